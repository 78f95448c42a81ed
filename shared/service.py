"""The life of a worker process: settings → logging → bus → streams → a small
health/metrics HTTP server → consumers until SIGINT/SIGTERM → hand back → drain.

Example::

    async def main() -> None:
        settings = Settings(service_name="storyboard")
        async with worker_runtime(settings) as rt:
            await rt.bus.consume(SPEC, {StoryboardRequested: handle}, rt.stop)
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from shared.bus import Bus
from shared.logging import configure_logging, get_logger
from shared.metrics import exposition
from shared.settings import Settings

log = get_logger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]


@dataclass
class WorkerRuntime:
    settings: Settings
    bus: Bus
    stop: asyncio.Event
    readiness_checks: list[ReadinessCheck] = field(default_factory=list)
    port: int = 0

    async def ready(self) -> bool:
        if not self.bus.connected:
            return False
        return all([await check() for check in self.readiness_checks])


def health_app(runtime: WorkerRuntime) -> web.Application:
    """`/healthz` (process alive), `/readyz` (NATS connected, own checks), `/metrics`."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": runtime.settings.service_name})

    async def readyz(_: web.Request) -> web.Response:
        ready = await runtime.ready()
        return web.json_response(
            {"status": "ready" if ready else "not_ready", "nats": runtime.bus.connected},
            status=200 if ready else 503,
        )

    async def metrics(_: web.Request) -> web.Response:
        body, content_type = exposition()
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


@contextlib.asynccontextmanager
async def worker_runtime(
    settings: Settings, stop: asyncio.Event | None = None, handle_signals: bool = True
) -> AsyncIterator[WorkerRuntime]:
    """Connect, declare streams, serve health/metrics; on exit stop and drain."""
    stop = stop or asyncio.Event()
    if handle_signals:
        install_signal_handlers(stop)
    bus = await Bus.connect(settings.nats_url, service=settings.service_name)
    runner: web.AppRunner | None = None
    try:
        await bus.ensure_streams()
        runtime = WorkerRuntime(settings=settings, bus=bus, stop=stop)
        runner = web.AppRunner(health_app(runtime), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.metrics_host, settings.metrics_port)
        await site.start()
        runtime.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("service.started", extra={"metrics_port": runtime.port})
        yield runtime
    finally:
        stop.set()
        if runner is not None:
            await runner.cleanup()
        await bus.close()
        log.info("service.stopped")


def run_service(main: Callable[[Settings], Coroutine[Any, Any, None]], service_name: str) -> None:
    """`python -m services.<name>` entry: read settings once, log JSON, run `main`."""
    settings = Settings(service_name=service_name)
    configure_logging(
        service_name,
        settings.log_level,
        secrets=[settings.jwt_secret, settings.replicate_api_token],
    )
    asyncio.run(main(settings))
