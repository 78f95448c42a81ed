"""Live updates at scale: `--streams` (2,000) open `GET /api/v2/jobs/{id}/events` streams on
one gateway, its memory, and how soon each stream hears of a change.

Starts the real system (as `bench/pipeline.py` does), then:

1. submits `--streams` briefs at `--rate` per second and opens each job's event stream right
   after its `POST`; the storyboard worker moves every job (queued → storyboarding →
   storyboard_ready), the gateway's projection writes each move, and every event a stream
   receives after its first is timed against the `updated_at` the write stamped on the job;
2. once every job is `storyboard_ready` with all streams still open, reads the gateway's
   RSS (against its RSS before the first stream, the reference of the same run);
3. cancels the jobs at `--rate` per second while all the other streams stay open, and times
   the `canceled` event each stream receives the same way.

Prints p50/p99/max of both latencies against the target (p99 < 100 ms) and the RSS against
its target (< 150 MB with 2,000 streams). Figures, not a pass/fail test.

Example::

    .venv/bin/python bench/sse.py
    .venv/bin/python bench/sse.py --streams 500 --rate 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
from _proc import listening_pid, rss_bytes
from _system import add_system_arguments, check_system_arguments, percentile, running_system
from poll import bare_server

TARGET_STREAMS = 2000
TARGET_RSS_MB = 150.0
TARGET_P99_MS = 100.0
READY = "storyboard_ready"
FINAL = ("completed", "failed", "canceled")
MB = 1024 * 1024


@dataclass
class Stream:
    """One job's event stream: when each change arrived, against when it was written."""

    job_id: str = ""
    status: str = ""
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    body: str = ""
    pipeline_ms: list[float] = field(default_factory=list)
    cancel_ms: list[float] = field(default_factory=list)
    error: str | None = None


def written_at(job: dict[str, object]) -> float:
    """The job's `updated_at` (stamped by the write) as a Unix time."""
    stamp = str(job["updated_at"]).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


def brief(index: int) -> dict[str, object]:
    return {
        "campaign_id": f"sse-bench-{index % 10}",
        "prompt": f"Live updates benchmark ad #{index} for a reusable steel water bottle",
        "platform": "tiktok",
        "duration_s": 15,
        "brand": {"colors": ["#0F4C81", "#F5B700", "#FFFFFF"], "tone": "energetic"},
    }


async def read_events(response: aiohttp.ClientResponse, stream: Stream) -> None:
    """Every `job` event of the stream, timed on arrival; the first is the state it opened on."""
    first = True
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].lstrip())
            continue
        if line or not data:
            continue
        arrived = time.time()
        text = "\n".join(data)
        job = json.loads(text)
        data = []
        stream.status = str(job["status"])
        if first:
            first = False
            stream.opened.set()
        else:
            late_ms = (arrived - written_at(job)) * 1000
            (stream.cancel_ms if stream.status == "canceled" else stream.pipeline_ms).append(
                late_ms
            )
        if stream.status == READY:
            stream.body = text
            stream.ready.set()
        if stream.status in FINAL:
            if stream.status != "canceled":
                stream.error = f"job ended {stream.status}"
            return


async def follow(session: aiohttp.ClientSession, base: str, index: int, stream: Stream) -> None:
    try:
        async with session.post(f"{base}/api/v2/jobs", json=brief(index)) as response:
            body = await response.read()
            if response.status != 202:
                raise RuntimeError(f"POST answered {response.status}: {body[:200]!r}")
            stream.job_id = json.loads(body)["id"]
        async with session.get(f"{base}/api/v2/jobs/{stream.job_id}/events") as response:
            if response.status != 200:
                raise RuntimeError(f"events answered {response.status}")
            await read_events(response, stream)
    except (aiohttp.ClientError, RuntimeError) as exc:
        stream.error = f"{type(exc).__name__}: {exc}"
    finally:
        stream.opened.set()
        stream.ready.set()
        stream.ended.set()


async def wait_all(events: list[asyncio.Event], timeout_s: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*(event.wait() for event in events))
    except TimeoutError:
        done = sum(event.is_set() for event in events)
        raise TimeoutError(f"{what}: {done}/{len(events)} after {timeout_s:.0f} s") from None


async def bench(args: argparse.Namespace) -> None:
    async with running_system(args) as system:
        port = urllib.parse.urlsplit(system.url).port
        gateway_pid = listening_pid(port) if port else None
        headers = {"Authorization": f"Bearer {system.token}"}
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_read=None)
        async with aiohttp.ClientSession(
            headers=headers, connector=connector, timeout=timeout
        ) as session:
            rss_before = rss_bytes(gateway_pid) if gateway_pid else 0
            streams = [Stream() for _ in range(args.streams)]
            print(f"bench: {args.streams} briefs at {args.rate:g}/s, a stream on each", flush=True)
            tasks = []
            interval = 1.0 / args.rate
            started = time.monotonic()
            for index, stream in enumerate(streams):
                tasks.append(asyncio.create_task(follow(session, system.url, index, stream)))
                await asyncio.sleep(max(0.0, started + (index + 1) * interval - time.monotonic()))
            await wait_all([s.ready for s in streams], args.timeout, f"jobs {READY}")
            failed = [s for s in streams if s.error]
            if failed:
                raise RuntimeError(f"{len(failed)} streams failed, e.g. {failed[0].error}")
            open_streams = sum(not s.ended.is_set() for s in streams)
            rss_open = rss_bytes(gateway_pid) if gateway_pid else 0
            print(f"bench: {open_streams} streams open, cancelling at {args.rate:g}/s", flush=True)
            started = time.monotonic()
            for index, stream in enumerate(streams):
                async with session.post(f"{system.url}/api/v2/jobs/{stream.job_id}/cancel") as r:
                    if r.status >= 300:
                        raise RuntimeError(f"cancel answered {r.status}: {await r.text()}")
                await asyncio.sleep(max(0.0, started + (index + 1) * interval - time.monotonic()))
            await wait_all([s.ended for s in streams], args.timeout, "streams ended")
            await asyncio.gather(*tasks)
        bare_kb = await bare_kb_per_stream(streams)
        report(args, streams, open_streams, rss_before, rss_open, bare_kb)


async def bare_kb_per_stream(streams: list[Stream]) -> float:
    """The reference: RSS per open stream of a bare aiohttp server holding the same number of
    streams with the same first event (`bench/_bare_server.py`)."""
    with tempfile.TemporaryDirectory(prefix="reelsmith-sse-") as workdir:
        body_file = Path(workdir) / "bodies.json"
        body_file.write_text(json.dumps({s.job_id: s.body for s in streams}))
        async with bare_server(body_file, streams[0].job_id) as url:
            pid = listening_pid(urllib.parse.urlsplit(url).port or 0)
            before = rss_bytes(pid)
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                responses = await asyncio.gather(
                    *(session.get(f"{url}/api/v2/jobs/{s.job_id}/events") for s in streams)
                )
                try:
                    await asyncio.gather(*(r.content.readuntil(b"\n\n") for r in responses))
                    after = rss_bytes(pid)
                finally:
                    for response in responses:
                        response.close()
    return (after - before) / 1024 / len(streams)


def verdict(ok: bool) -> str:
    return "meets" if ok else "below"


def report(
    args: argparse.Namespace,
    streams: list[Stream],
    open_streams: int,
    rss_before: int,
    rss_open: int,
    bare_kb: float,
) -> None:
    print()
    print(
        f"sse benchmark: {args.streams} job event streams on one gateway, {args.rate:g} changes/s"
    )
    print(f"  streams open at once        {open_streams} (target {TARGET_STREAMS})")
    grown = (rss_open - rss_before) / MB
    per_stream_kb = (rss_open - rss_before) / 1024 / max(1, open_streams)
    print(
        f"  gateway RSS                 {rss_open / MB:.1f} MB with the streams open"
        f" (target < {TARGET_RSS_MB:.0f} MB: {verdict(rss_open / MB < TARGET_RSS_MB)});"
        f" reference before the first stream {rss_before / MB:.1f} MB"
        f" (+{grown:.1f} MB, {per_stream_kb:.1f} KB per stream with its job)"
    )
    print(f"  bare aiohttp, same streams  {bare_kb:.1f} KB per open stream (reference)")
    for label, values in (
        ("pipeline moves (projection)", sorted(v for s in streams for v in s.pipeline_ms)),
        ("cancels (all streams open)", sorted(v for s in streams for v in s.cancel_ms)),
    ):
        p99 = percentile(values, 99)
        print(
            f"  {label:27} {len(values)} events: p50 {percentile(values, 50):.1f} ms,"
            f" p99 {p99:.1f} ms (target < {TARGET_P99_MS:.0f} ms: {verdict(p99 < TARGET_P99_MS)}),"
            f" max {max(values, default=0.0):.1f} ms"
        )
    print(f"  cpu_count                   {os.cpu_count()}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=TARGET_STREAMS, help="jobs and streams")
    parser.add_argument("--rate", type=float, default=40.0, help="briefs and cancels per second")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per phase")
    add_system_arguments(parser)
    args = parser.parse_args()
    check_system_arguments(parser, args)
    if args.streams < 1 or args.rate <= 0:
        parser.error("--streams must be >= 1 and --rate > 0")
    try:
        await bench(args)
    except (RuntimeError, TimeoutError, LookupError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        sys.exit(130)
