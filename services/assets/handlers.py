"""One typed handler per request subject: `assets.ingest`, `.get`, `.list`, `.delete`."""

from __future__ import annotations

import asyncio
import os

from services.assets.colors import dominant_colors
from services.assets.endpoints import RequestError
from services.assets.formats import Refused
from services.assets.store import AssetStore, now_ms
from services.assets.thumbnails import thumbnail_jpeg
from services.assets.validation import Inspection, inspect
from shared.assets import (
    Asset,
    AssetReply,
    DeleteReply,
    DeleteRequest,
    GetReply,
    GetRequest,
    IngestRequest,
    ListReply,
    ListRequest,
    display_name,
)
from shared.cursor import InvalidCursor
from shared.logging import get_logger
from shared.storage import LocalStorage
from shared.uploads import thumbnail_key, upload_key

log = get_logger(__name__)

PALETTE_KINDS = ("image", "logo")


class AssetHandlers:
    def __init__(self, store: AssetStore, storage: LocalStorage, max_upload_bytes: int) -> None:
        self.store = store
        self.storage = storage
        self.max_upload_bytes = max_upload_bytes

    async def on_ingest(self, request: IngestRequest) -> AssetReply:
        """Validate the streamed upload; register it, or delete it and say why."""
        existing = await self.store.get(request.asset_id)
        if existing is not None:
            await self.storage.delete(request.temp_key)
            if existing.client_id != request.client_id:
                raise RequestError("invalid_request", "id in use")
            return AssetReply(asset=existing)  # a retried request: same answer
        temp = self.storage.path(request.temp_key)
        if not temp.is_file():
            raise RequestError("invalid_request", "the upload is no longer in storage")
        try:
            found = await asyncio.to_thread(
                inspect, temp, request.declared_kind, request.declared_mime, self.max_upload_bytes
            )
        except Refused as exc:
            await self.storage.delete(request.temp_key)
            log.info("asset.refused", extra={"reason": exc.message, "bytes": request.bytes})
            raise RequestError(exc.code, exc.message) from None
        except BaseException:
            await self.storage.delete(request.temp_key)
            raise
        asset = await self._register(request, found)
        log.info("asset.ingested", extra={"asset_id": asset.id, "kind": asset.kind})
        return AssetReply(asset=asset)

    async def _register(self, request: IngestRequest, found: Inspection) -> Asset:
        """Files first, then the row: an asset is listed only once its files are in place."""
        key = upload_key(request.client_id, request.asset_id, found.format.ext)
        thumb = thumbnail_key(request.client_id, request.asset_id) if found.preview else None
        try:
            colors: list[str] = []
            if found.preview is not None:
                jpeg = await asyncio.to_thread(thumbnail_jpeg, found.preview)
                assert thumb is not None
                await self.storage.put(thumb, jpeg)
                if found.kind in PALETTE_KINDS:
                    colors = await asyncio.to_thread(dominant_colors, found.preview)
            await asyncio.to_thread(self._move, request.temp_key, key)
            asset = Asset(
                id=request.asset_id,
                client_id=request.client_id,
                kind=found.kind,
                mime_type=found.format.mime_type,
                bytes=found.bytes,
                width=found.width,
                height=found.height,
                duration_s=found.duration_s,
                key=key,
                thumbnail_key=thumb,
                dominant_colors=colors,
                original_name=display_name(request.original_name),
                sha256=found.sha256,
                created_at=now_ms(),
            )
            await self.store.add(asset)
        except BaseException:
            for leftover in (request.temp_key, key, thumb):
                if leftover:
                    await self.storage.delete(leftover)
            raise
        return asset

    def _move(self, source: str, target: str) -> None:
        # One filesystem: a rename is atomic and copies nothing (an object store would
        # copy, then delete the source).
        path = self.storage.path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.storage.path(source), path)

    async def on_get(self, request: GetRequest) -> GetReply:
        ids = list(dict.fromkeys(request.asset_ids))
        found = {a.id: a for a in await self.store.get_many(ids, request.client_id)}
        return GetReply(
            assets=[found[i] for i in ids if i in found],
            missing=[i for i in ids if i not in found],
        )

    async def on_list(self, request: ListRequest) -> ListReply:
        try:
            assets, cursor = await self.store.page(
                request.client_id, request.kind, request.limit, request.cursor
            )
        except InvalidCursor:
            raise RequestError("invalid_request", "invalid cursor") from None
        return ListReply(assets=assets, next_cursor=cursor)

    async def on_delete(self, request: DeleteRequest) -> DeleteReply:
        """Unregister, then delete the files (a crash between leaves files nothing lists)."""
        asset = await self.store.remove(request.asset_id, request.client_id)
        if asset is None:
            message = f"asset {request.asset_id} not found"
            raise RequestError("not_found", message)
        for key in (asset.key, asset.thumbnail_key):
            if key:
                await self.storage.delete(key)
        log.info("asset.deleted", extra={"asset_id": asset.id})
        return DeleteReply(deleted=True)
