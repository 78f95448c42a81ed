"""The poll and SSE benchmarks' baseline: a bare aiohttp server answering
`GET /api/v2/jobs/{job_id}` from a dict, with the bytes and headers the gateway sends for that
job (no auth, no middleware, no cache bookkeeping), and holding
`GET /api/v2/jobs/{job_id}/events` streams open. `--body-file` is a JSON object mapping job id
to the job's JSON text.

Example::

    python bench/_bare_server.py --port 8099 --body-file bodies.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
from pathlib import Path

from aiohttp import web

JSON = "application/json"
KEEP_ALIVE_S = 15


def load_bodies(path: Path) -> dict[str, tuple[bytes, str]]:
    """Job id -> (body, ETag), the ETag computed the way the gateway's cache does."""
    texts: dict[str, str] = json.loads(path.read_text())
    bodies = {}
    for job_id, text in texts.items():
        body = text.encode()
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        bodies[job_id] = (body, etag)
    return bodies


def make_app(bodies: dict[str, tuple[bytes, str]]) -> web.Application:
    async def get_job(request: web.Request) -> web.Response:
        found = bodies.get(request.match_info["job_id"])
        if found is None:
            return web.Response(status=404, body=b'{"error":{"code":"not_found"}}')
        body, etag = found
        return web.Response(
            body=body, content_type=JSON, headers={"ETag": etag, "Cache-Control": "no-cache"}
        )

    async def job_events(request: web.Request) -> web.StreamResponse:
        """The job's body as the first event, then keep-alives until the client leaves: what
        an open SSE stream costs aiohttp itself (the reference of `bench/sse.py`)."""
        found = bodies.get(request.match_info["job_id"])
        if found is None:
            return web.Response(status=404, body=b'{"error":{"code":"not_found"}}')
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        await response.write(b"event: job\ndata: " + found[0] + b"\n\n")
        changes: asyncio.Queue[bytes] = asyncio.Queue()
        with contextlib.suppress(ConnectionResetError):
            while True:
                try:
                    change = await asyncio.wait_for(changes.get(), KEEP_ALIVE_S)
                except TimeoutError:
                    change = b": keep-alive\n\n"
                await response.write(change)
        return response

    app = web.Application()
    app.router.add_get("/api/v2/jobs/{job_id}", get_job)
    app.router.add_get("/api/v2/jobs/{job_id}/events", job_events)
    return app


async def main() -> None:
    parser = argparse.ArgumentParser(description="bare aiohttp baseline for bench/poll.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", type=Path, required=True)
    args = parser.parse_args()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # access_log=None, as the gateway runs.
    runner = web.AppRunner(make_app(load_bodies(args.body_file)), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, args.host, args.port).start()
        await stop.wait()
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
