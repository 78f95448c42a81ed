"""Every service process answers health, readiness and metrics on its own port; the
gateway streams job changes as server-sent events."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import aiohttp
import orjson
import pytest

from services.gateway.appkeys import CACHE
from shared.service import worker_runtime
from tests.support.nats_server import NatsServer, free_port
from tests.support.system import System, settings_for
from tests.support.waiting import eventually


@pytest.mark.parametrize("service", ["storyboard", "renderer", "assets", "billing"])
async def test_each_worker_serves_health_and_metrics(
    nats_server: NatsServer, tmp_path: Path, service: str
) -> None:
    # The service's own entry point starts against the real server.
    module = importlib.import_module(f"services.{service}.__main__")
    port = free_port()
    settings = settings_for(nats_server.url, tmp_path, service_name=service, metrics_port=port)
    stop = asyncio.Event()
    task = asyncio.create_task(module.serve(settings, stop, handle_signals=False))

    # Its health server comes up on METRICS_PORT.
    async with aiohttp.ClientSession() as http:
        await eventually(lambda: _answers(http, port), lambda ok: ok)
        for path, expected in (("/healthz", 200), ("/readyz", 200), ("/metrics", 200)):
            async with http.get(f"http://127.0.0.1:{port}{path}") as r:
                assert r.status == expected, path
                if path == "/metrics":
                    assert "reelsmith_events_published_total" in await r.text()

    # SIGTERM's stand-in: the stop event ends it cleanly.
    stop.set()
    await asyncio.wait_for(task, 15)


async def _answers(http: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
            return r.status == 200
    except aiohttp.ClientConnectionError:
        return False


async def test_readiness_fails_when_nats_is_gone(tmp_path: Path) -> None:
    # A worker whose NATS server stops reports not ready, and ready again after.
    server = NatsServer(tmp_path / "n")
    (tmp_path / "n").mkdir()
    server.start()
    try:
        settings = settings_for(server.url, tmp_path, service_name="renderer")
        async with worker_runtime(settings, handle_signals=False) as runtime:
            assert await runtime.ready()
            server.stop()
            await eventually(runtime.ready, lambda ready: not ready)
            server.start()
            await eventually(runtime.ready, lambda ready: ready, timeout_s=30)
    finally:
        server.stop()


async def test_job_events_stream_until_final(system: System) -> None:
    # A client follows a job over SSE and sees it move to storyboard_ready.
    job = await system.create_job()
    statuses: list[str] = []
    url = f"{system.base_url}/api/v2/jobs/{job['id']}/events"
    async with system.http.get(url, headers=system.auth()) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        async for line in response.content:
            if line.startswith(b"data: "):
                statuses.append(orjson.loads(line[6:])["status"])
                if statuses[-1] == "storyboard_ready":
                    break
    assert statuses[0] in ("queued", "storyboarding") and statuses[-1] == "storyboard_ready"

    # Once the job is final, the stream sends it and ends.
    await system.call("POST", f"/api/v2/jobs/{job['id']}/cancel")
    async with system.http.get(url, headers=system.auth()) as response:
        body = await response.read()
    assert body.count(b"event: job") == 1 and b'"canceled"' in body


async def test_open_streams_end_when_the_gateway_shuts_down(system: System) -> None:
    # A client follows a job that is waiting for review (not final).
    job = await system.create_job()
    await system.wait_status(job["id"], "storyboard_ready")
    url = f"{system.base_url}/api/v2/jobs/{job['id']}/events"
    async with system.http.get(url, headers=system.auth()) as response:
        first = await response.content.readline()
        assert first == b"event: job\n"

        # Shutdown ends every open stream at once, cleanly.
        system.app[CACHE].close_listeners()
        rest = await asyncio.wait_for(response.content.read(), 5)
    assert b'"storyboard_ready"' in rest and b"event: job" not in rest


async def test_etag_variants(system: System) -> None:
    # A list of tags, a weak tag or `*` in If-None-Match also answer 304 (on a job at rest).
    job = await system.create_job()
    await system.wait_status(job["id"], "storyboard_ready")
    _, _, first = await system.call("GET", f"/api/v2/jobs/{job['id']}")
    etag = first.headers["ETag"]
    for header in (f'"other", {etag}', f"W/{etag}", "*"):
        status, _, _ = await system.call(
            "GET", f"/api/v2/jobs/{job['id']}", headers={"If-None-Match": header}
        )
        assert status == 304, header
    status, _, _ = await system.call(
        "GET", f"/api/v2/jobs/{job['id']}", headers={"If-None-Match": '"nope"'}
    )
    assert status == 200
