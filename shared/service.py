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
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from shared.bus import Bus
from shared.logging import configure_logging, get_logger, service_var
from shared.metrics import exposition
from shared.settings import Settings
from shared.tracing import configure_tracing, shutdown_tracing

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
        if self.stop.is_set() or not self.bus.connected:
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


async def start_site(
    app: web.Application,
    host: str,
    port: int,
    on_setup: Callable[[web.AppRunner], None] | None = None,
) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port (0: any free port); returns the runner to clean up and the
    port bound. `on_setup` sees the runner after the app started, before the site listens.
    The gateway, the workers' health/metrics server and the gateway's metrics port use it.

    Example::

        runner, port = await start_site(health_app(runtime), "127.0.0.1", 0)
        ...
        await runner.cleanup()
    """
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        if on_setup is not None:
            on_setup(runner)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


# The share of SHUTDOWN_GRACE_S after which a stopping process ends itself, whatever still
# runs. The rest is for the operating system: on a loaded machine the forced exit's own
# timer and the process's reaping take a tenth of a second or more, and the orchestrator's
# SIGKILL at the full grace must never be the one that ends us.
FORCED_EXIT_SHARE = 0.9


def shutdown_budget(grace_s: float) -> tuple[float, float]:
    """Split SHUTDOWN_GRACE_S into (in-flight handlers' time to finish, drain time), so
    that stopping, handing back and draining together end before the forced exit; a tenth
    of the grace is left for the process's own teardown (joining threads, encoder
    processes) before it."""
    drain_s = min(5.0, grace_s / 5)
    return grace_s * (FORCED_EXIT_SHARE - 0.1) - drain_s, drain_s


def install_signal_handlers(stop: asyncio.Event, exit_within_s: float | None = None) -> None:
    """SIGINT/SIGTERM set `stop`. With `exit_within_s` the process also ends that long
    after the first signal whatever still runs (a handler ignoring its cancellation, a
    slow teardown): the orchestrator's SIGKILL never has to come."""
    loop = asyncio.get_running_loop()
    if exit_within_s is None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        return
    armed: list[threading.Timer] = []

    def stopping() -> None:
        log.info("service.stopping", extra={"grace_s": exit_within_s})
        stop.set()

    def on_signal(_signum: int, _frame: object) -> None:
        # A plain signal handler, not the loop's: the deadline starts at the signal even
        # when the event loop is slow to get to it.
        if not armed:
            _SIGNALLED.set()
            deadline_s = exit_within_s * FORCED_EXIT_SHARE
            armed.append(threading.Timer(deadline_s, _exit_now, args=(exit_within_s,)))
            armed[0].daemon = True
            armed[0].start()
            loop.call_soon_threadsafe(stopping)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)


_STOPPED = threading.Event()
_SIGNALLED = threading.Event()


def _exit_now(grace_s: float) -> None:
    # Success when the graceful part (hand back, drain) was done and only teardown was left.
    log.warning("service.exit_forced", extra={"grace_s": grace_s, "stopped": _STOPPED.is_set()})
    _flush_logs()
    os._exit(0 if _STOPPED.is_set() else 1)


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()


@contextlib.asynccontextmanager
async def worker_runtime(
    settings: Settings, stop: asyncio.Event | None = None, handle_signals: bool = True
) -> AsyncIterator[WorkerRuntime]:
    """Connect, declare streams, serve health/metrics; on exit stop and drain."""
    stop = stop or asyncio.Event()
    if handle_signals:
        install_signal_handlers(stop, settings.shutdown_grace_s)
    # Names this worker on its log lines even when one process hosts several (tests).
    named = service_var.set(settings.service_name)
    bus = await Bus.connect(settings.nats_url, service=settings.service_name)
    bus.hand_back_s, drain_s = shutdown_budget(settings.shutdown_grace_s)
    runner: web.AppRunner | None = None
    try:
        await bus.ensure_streams()
        runtime = WorkerRuntime(settings=settings, bus=bus, stop=stop)
        runner, runtime.port = await start_site(
            health_app(runtime), settings.metrics_host, settings.metrics_port
        )
        log.info("service.started", extra={"metrics_port": runtime.port})
        yield runtime
    finally:
        stop.set()
        if runner is not None:
            await runner.cleanup()
        await bus.close(timeout_s=drain_s)
        log.info("service.stopped")
        _STOPPED.set()
        with contextlib.suppress(ValueError):  # exited from another context
            service_var.reset(named)


def run_service(main: Callable[[Settings], Coroutine[Any, Any, None]], service_name: str) -> None:
    """`python -m services.<name>` entry: read settings once, log JSON (also to
    `LOG_FILE` when set), trace (exported when `OTEL_EXPORTER_OTLP_ENDPOINT` is set),
    run `main`, flush the spans still queued."""
    settings = Settings(service_name=service_name)
    configure_logging(
        service_name,
        settings.log_level,
        secrets=[settings.jwt_secret, settings.replicate_api_token],
        file=settings.log_file,
    )
    configure_tracing(service_name, settings.otel_exporter_otlp_endpoint)
    try:
        asyncio.run(main(settings))
    finally:
        shutdown_tracing()
    if _SIGNALLED.is_set():
        # Stopped by a signal and done: skip the interpreter's teardown, which joins the
        # process pool's encoders and could outlast SHUTDOWN_GRACE_S.
        _flush_logs()
        os._exit(0)
