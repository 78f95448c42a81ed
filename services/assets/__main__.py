"""Assets service: validates uploads the gateway streamed to storage, registers them in
`assets.db` with a thumbnail and brand colours, and answers asset look-ups."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from services.assets.endpoints import ERRORS, Endpoint, serve_endpoints
from services.assets.handlers import AssetHandlers
from services.assets.settings import AssetsSettings
from services.assets.store import AssetStore
from shared.assets import (
    DELETE,
    GET,
    INGEST,
    LIST,
    AssetReply,
    DeleteReply,
    DeleteRequest,
    GetReply,
    GetRequest,
    IngestRequest,
    ListReply,
    ListRequest,
)
from shared.db import Database
from shared.logging import get_logger
from shared.service import run_service, worker_runtime
from shared.settings import Settings
from shared.storage import LocalStorage
from shared.uploads import INCOMING_PREFIX

log = get_logger(__name__)


def endpoints(handlers: AssetHandlers) -> list[Endpoint[Any, Any]]:
    return [
        Endpoint("ingest", INGEST, IngestRequest, AssetReply, handlers.on_ingest),
        Endpoint("get", GET, GetRequest, GetReply, handlers.on_get),
        Endpoint("list", LIST, ListRequest, ListReply, handlers.on_list),
        Endpoint("delete", DELETE, DeleteRequest, DeleteReply, handlers.on_delete),
    ]


def sweep_incoming(storage: LocalStorage, older_than_s: float) -> int:
    """Delete abandoned uploads (the gateway died before handing them over)."""
    folder = storage.path(INCOMING_PREFIX)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    swept = 0
    for path in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                swept += 1
    return swept


async def _sweep_forever(storage: LocalStorage, settings: AssetsSettings) -> None:
    while True:
        swept = await asyncio.to_thread(sweep_incoming, storage, settings.incoming_ttl_s)
        if swept:
            log.info("incoming.swept", extra={"files": swept})
        await asyncio.sleep(settings.incoming_sweep_every_s)


async def serve(
    settings: Settings, stop: asyncio.Event | None = None, handle_signals: bool = True
) -> None:
    config = AssetsSettings.from_base(settings)
    storage = LocalStorage(config.video_storage_path)
    async with contextlib.AsyncExitStack() as stack:
        db = await Database.open(config.database_path)
        stack.push_async_callback(db.close)
        await db.migrate(config.assets_migrations_path)
        runtime = await stack.enter_async_context(worker_runtime(config, stop, handle_signals))
        runtime.readiness_checks.append(db.ping)
        handlers = AssetHandlers(AssetStore(db), storage, config.max_upload_bytes)
        await stack.enter_async_context(
            await serve_endpoints(runtime.bus.nc, "assets", endpoints(handlers), ERRORS)
        )
        sweeper = asyncio.create_task(_sweep_forever(storage, config), name="incoming-sweep")
        stack.callback(sweeper.cancel)
        await runtime.stop.wait()


if __name__ == "__main__":
    run_service(serve, "assets")
