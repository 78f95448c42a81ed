"""Gateway: the HTTP API (aiohttp) in front of the event backbone."""

from __future__ import annotations

import asyncio
import gc

from services.gateway.app import init_app
from services.gateway.http.poll_lane import install_poll_lane
from shared.logging import get_logger
from shared.service import install_signal_handlers, run_service, start_site
from shared.settings import Settings

log = get_logger(__name__)


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    install_signal_handlers(stop)
    runner, _ = await start_site(
        init_app(settings), settings.gateway_host, settings.gateway_port, install_poll_lane
    )
    # Everything built at start-up (routes, schemas, the OpenAPI document, imported modules)
    # lives as long as the process: keep it out of the collector's way, so a full
    # collection scans what requests allocate, not the whole heap (fewer, shorter pauses
    # on the poll path's p99).
    gc.collect()
    gc.freeze()
    log.info(
        "gateway.listening",
        extra={"url": f"http://{settings.gateway_host}:{settings.gateway_port}"},
    )
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        log.info("service.stopped")


if __name__ == "__main__":
    run_service(serve, "gateway")
