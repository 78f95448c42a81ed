"""The scrape off the public port. With METRICS_PORT set (compose and Kubernetes set 9100)
the gateway serves `/metrics` on its own listener there, as the workers do, and the API
port answers 404 for it: the ingress forwards only the API port, so the metrics never
reach the public. Without it (METRICS_PORT unset or 0: `make run`, most tests) `/metrics`
stays on the API port, the one port a developer has."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from services.gateway.appkeys import SETTINGS
from services.gateway.views import health
from shared.logging import get_logger
from shared.service import start_site
from shared.settings import Settings

log = get_logger(__name__)


def metrics_apart(settings: Settings | None) -> bool:
    """Whether `/metrics` has its own port. A worker takes METRICS_PORT=0 as "any free
    port"; for the gateway 0 means "no port of its own", since a scrape target on a random
    port could not be configured anywhere."""
    return settings is not None and settings.metrics_port > 0


def metrics_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/metrics", health.metrics)
    return app


async def metrics_listener(app: web.Application) -> AsyncIterator[None]:
    """`cleanup_ctx`: the metrics listener on METRICS_HOST:METRICS_PORT, when configured."""
    settings = app[SETTINGS]
    if not metrics_apart(settings):
        yield
        return
    runner, port = await start_site(metrics_app(), settings.metrics_host, settings.metrics_port)
    log.info("gateway.metrics_listening", extra={"metrics_port": port})
    try:
        yield
    finally:
        await runner.cleanup()
