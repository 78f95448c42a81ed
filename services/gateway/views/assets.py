"""Uploads and the asset API. An upload streams from the socket to storage (`incoming/`)
under the byte limit, never held in memory, then the assets service is asked over NATS
(`assets.ingest`) to validate and register it; whatever happens, the temporary object is
gone when the request ends. Reads go to the assets service too (`assets.get`/`.list`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar, cast

import nats.errors
from aiohttp import BodyPartReader, MultipartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel, ValidationError

from services.gateway.appkeys import BUS, DB, SETTINGS, STORAGE
from services.gateway.contract.operations import (
    ERROR,
    FILE_REQUEST_HEADERS,
    IDEMPOTENCY_KEY,
    Response,
    file_responses,
    operation,
)
from services.gateway.contract.schemas import AssetUpload
from services.gateway.http.bodies import model_response
from services.gateway.http.errors import (
    ApiError,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    Unprocessable,
)
from services.gateway.http.middlewares import principal_of
from services.gateway.http.queries import AssetListQuery, read_query
from services.gateway.metrics import UPLOAD_REJECTIONS, UPLOAD_SIZE
from shared.assets import (
    ASSET_KINDS,
    DELETE,
    GET,
    INGEST,
    INGEST_TIMEOUT_S,
    LIST,
    QUERY_TIMEOUT_S,
    Asset,
    AssetError,
    AssetKind,
    AssetPage,
    AssetReply,
    AssetResource,
    DeleteReply,
    DeleteRequest,
    GetReply,
    GetRequest,
    IngestRequest,
    ListReply,
    ListRequest,
    can_own_uploads,
    display_name,
)
from shared.bus import Bus
from shared.db import Database
from shared.events import new_id
from shared.logging import get_logger
from shared.models import JobStatus
from shared.storage import LocalStorage
from shared.uploads import incoming_key

log = get_logger(__name__)

API = "/api/v2"
ASSET = API + "/assets/{asset_id}"
JSON = "application/json"
# Room for boundaries, part headers and the `kind` field on top of the file itself.
FORM_OVERHEAD = 64 * 1024
READ_CHUNK = 256 * 1024
# Writes go to disk in 1 MiB slices: fewer thread hops than per socket read, still small.
WRITE_SLICE = 1024 * 1024
KIND_FIELD_MAX = 64
R = TypeVar("R", bound=BaseModel)
UNAVAILABLE = "the assets service is unavailable; nothing was stored, try again shortly"
# Every asset route asks the assets service over NATS.
UPSTREAM = {502: ERROR, 503: ERROR}
ASSET_MEDIA = ("image/*", "audio/*", "video/*", "font/*")


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class UpstreamFailed(ApiError):
    status = 502
    code = "upstream_error"


class AssetsTimedOut(Unavailable):
    """The assets service did not answer in time (it may still act on the request)."""


def add_asset_routes(app: web.Application) -> None:
    app.router.add_post(f"{API}/upload-asset", upload_asset)
    app.router.add_post(f"{API}/assets", upload_asset)
    app.router.add_get(f"{API}/assets", list_assets)
    app.router.add_get(ASSET, get_asset)
    app.router.add_get(f"{ASSET}/content", asset_content)
    app.router.add_get(f"{ASSET}/thumbnail.jpg", asset_thumbnail)
    app.router.add_delete(ASSET, delete_asset)


# --------------------------------------------------------------------------- upload


@dataclass
class UploadForm:
    size: int | None = None  # None until the `file` part has been stored
    filename: str | None = None
    content_type: str | None = None
    kind: AssetKind | None = None


@operation(
    summary="Upload an asset (image, logo, font, audio, video)",
    tags=("assets",),
    request=AssetUpload,
    request_content_type="multipart/form-data",
    headers=IDEMPOTENCY_KEY,
    responses={
        201: Response(
            AssetResource,
            headers={"Location": "The asset's URL."},
            links={
                target: {"asset_id": "$response.body#/asset_id"}
                for target in ("get_asset", "asset_content", "asset_thumbnail", "delete_asset")
            },
        ),
        400: ERROR,
        403: ERROR,
        413: ERROR,
        415: ERROR,
        422: ERROR,
        **UPSTREAM,
    },
    description="Streamed to storage under `MAX_UPLOAD_BYTES` (one byte more is 413 before "
    "the rest is read), then validated by content: JPEG, PNG, WebP, TTF/OTF, MP3, AAC, WAV, "
    "OGG, M4A, MP4, MOV, WebM (SVG is refused). Answers with its size, dimensions or "
    "duration, thumbnail and dominant colours.",
)
async def upload_asset(request: web.Request) -> web.Response:
    try:
        asset, size = await _store_upload(request)
    except ApiError as exc:
        UPLOAD_REJECTIONS.labels(exc.code).inc()
        raise
    UPLOAD_SIZE.labels(asset.kind).observe(size)
    resource = AssetResource.of(asset)
    return web.Response(
        body=resource.model_dump_json(),
        status=201,
        content_type=JSON,
        headers={"Location": f"{API}/assets/{asset.id}"},
    )


async def _store_upload(request: web.Request) -> tuple[Asset, int]:
    """Stream the upload to storage and have the assets service register it."""
    client_id = principal_of(request).client_id
    if not can_own_uploads(client_id):
        raise Forbidden("this client id cannot own uploads (letters, digits, '-', '_', '.')")
    limit = request.app[SETTINGS].max_upload_bytes
    if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
        raise PayloadTooLarge(f"the upload is larger than the limit of {limit} bytes")
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType(
            "send the file as multipart/form-data with a `file` field (and optional `kind`)"
        )
    storage: LocalStorage = request.app[STORAGE]
    asset_id = new_id()
    temp = incoming_key(asset_id)
    try:
        try:
            form = await _read_form(await request.multipart(), storage, temp, limit)
        except (ValueError, HttpProcessingError) as exc:
            # aiohttp's parser names the offending bytes; the client needs no echo of them.
            raise ApiError(f"malformed multipart body ({exc.__class__.__name__})") from None
        if form.size is None:
            raise ApiError("the multipart field `file` is required")
        if form.size == 0:
            raise UnsupportedMediaType("the file is empty")
        asset = await _ingest(request.app[BUS], asset_id, client_id, temp, form)
    finally:
        # Moved into place (accepted) or not needed any more (refused, failed): either way.
        await storage.delete(temp)
    return asset, form.size


async def _read_form(
    reader: MultipartReader, storage: LocalStorage, temp: str, limit: int
) -> UploadForm:
    form = UploadForm()
    other_bytes = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError("nested multipart bodies are not accepted")
        if part.name == "file":
            if form.size is not None:
                raise ApiError("send exactly one `file` field")
            form.filename = part.filename
            form.content_type = part.headers.get(hdrs.CONTENT_TYPE)
            form.size = await storage.put(temp, _limited(part, limit))
        elif part.name == "kind":
            form.kind = _kind(await _small_field(part))
        else:
            # Unknown fields are skipped, but count: nothing but the file may be large.
            while chunk := await part.read_chunk(READ_CHUNK):
                other_bytes += len(chunk)
                if other_bytes > FORM_OVERHEAD:
                    raise PayloadTooLarge("form fields other than `file` are too large")
    return form


async def _limited(part: BodyPartReader, limit: int) -> AsyncIterator[bytes]:
    """The part's bytes in slices; PayloadTooLarge the moment one byte passes `limit`
    (the caller stops reading there and storage drops the partial object)."""
    received = 0
    pending = bytearray()
    while chunk := await part.read_chunk(READ_CHUNK):
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"the file is larger than the limit of {limit} bytes")
        pending += chunk
        if len(pending) >= WRITE_SLICE:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


async def _small_field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(READ_CHUNK):
        data += chunk
        if len(data) > KIND_FIELD_MAX:
            raise ApiError("the `kind` field is too long")
    return data.decode("utf-8", errors="replace").strip()


def _kind(value: str) -> AssetKind | None:
    if not value:
        return None
    if value not in ASSET_KINDS:
        raise Unprocessable(
            f"kind must be one of {', '.join(ASSET_KINDS)}",
            [{"field": "kind", "message": "unknown kind", "type": "literal_error"}],
        )
    return value


async def _ingest(bus: Bus, asset_id: str, client_id: str, temp: str, form: UploadForm) -> Asset:
    if form.size is None:
        raise ApiError("the multipart field `file` is required")
    body = IngestRequest(
        asset_id=asset_id,
        client_id=client_id,
        temp_key=temp,
        bytes=form.size,
        declared_kind=form.kind,
        declared_mime=(form.content_type or "")[:200] or None,
        original_name=display_name(form.filename),
    )
    try:
        reply = await _request(bus, INGEST, body, AssetReply, INGEST_TIMEOUT_S)
    except AssetsTimedOut:
        # It may have registered the asset after we stopped waiting: take it back.
        await _forget(bus, asset_id, client_id)
        raise
    if reply.error is not None:
        raise _api_error(reply.error)
    if reply.asset is None:
        raise UpstreamFailed("the assets service answered without an asset")
    return reply.asset


async def _forget(bus: Bus, asset_id: str, client_id: str) -> None:
    body = DeleteRequest(client_id=client_id, asset_id=asset_id)
    try:
        await _request(bus, DELETE, body, DeleteReply, QUERY_TIMEOUT_S)
    except ApiError:
        log.warning("asset.forget_failed", extra={"asset_id": asset_id})


# --------------------------------------------------------------------------- reads


async def _request(
    bus: Bus, subject: str, body: BaseModel, reply_type: type[R], timeout_s: float
) -> R:
    try:
        reply = await bus.request(subject, body, reply_type, timeout_s=timeout_s)
    except nats.errors.NoRespondersError:
        raise Unavailable(UNAVAILABLE) from None
    except (nats.errors.TimeoutError, TimeoutError):
        message = f"the assets service did not answer within {timeout_s:.0f} s; nothing was stored"
        raise AssetsTimedOut(message) from None
    except nats.errors.Error as exc:
        raise Unavailable(f"{UNAVAILABLE} ({exc.__class__.__name__})") from None
    except ValidationError:
        raise UpstreamFailed("the assets service sent an unreadable reply") from None
    return cast(R, reply)


def _api_error(error: AssetError) -> ApiError:
    match error.code:
        case "unsupported_media_type":
            return UnsupportedMediaType(error.message)
        case "payload_too_large":
            return PayloadTooLarge(error.message)
        case "not_found":
            return NotFound(error.message)
        case _:
            return UpstreamFailed(f"the assets service failed: {error.message}")


def _owner_filter(request: web.Request) -> str | None:
    principal = principal_of(request)
    return None if principal.is_admin else principal.client_id


async def find_assets(
    bus: Bus, client_id: str | None, asset_ids: list[str]
) -> tuple[list[Asset], list[str]]:
    """The assets among `asset_ids` that `client_id` may use, and the ids that name none
    (unknown or another client's): for a view that must refuse a job naming them (422).

    Example: `found, missing = await find_assets(app[BUS], "client-a", ["ab12..."])`
    """
    reply = await _request(
        bus, GET, GetRequest(client_id=client_id, asset_ids=asset_ids), GetReply, QUERY_TIMEOUT_S
    )
    if reply.error is not None:
        raise _api_error(reply.error)
    return reply.assets, reply.missing


async def _visible(request: web.Request) -> Asset:
    """The asset named in the path, if the caller may see it (others' are 404)."""
    asset_id = request.match_info["asset_id"]
    if len(asset_id) > 64:
        raise NotFound(f"asset {asset_id[:64]}... not found")
    found, _ = await find_assets(request.app[BUS], _owner_filter(request), [asset_id])
    if not found:
        raise NotFound(f"asset {asset_id} not found")
    return found[0]


@operation(
    summary="An asset's metadata",
    tags=("assets",),
    responses={200: AssetResource, 404: ERROR, **UPSTREAM},
)
async def get_asset(request: web.Request) -> web.Response:
    asset = await _visible(request)
    return model_response(AssetResource.of(asset))


@operation(
    summary="The client's assets, newest first",
    tags=("assets",),
    query=AssetListQuery,
    responses={200: AssetPage, 400: ERROR, 422: ERROR, **UPSTREAM},
    description="422 for a malformed cursor. An admin token lists every client's assets.",
)
async def list_assets(request: web.Request) -> web.Response:
    query = read_query(request, AssetListQuery)
    try:
        body = ListRequest(
            client_id=_owner_filter(request),
            kind=query.kind,
            limit=query.limit,
            cursor=query.cursor,
        )
    except ValidationError:
        raise Unprocessable(
            "invalid cursor", [{"field": "cursor", "message": "too long"}]
        ) from None
    reply = await _request(request.app[BUS], LIST, body, ListReply, QUERY_TIMEOUT_S)
    if reply.error is not None:
        if reply.error.code == "invalid_request":
            raise Unprocessable("invalid cursor", [{"field": "cursor", "message": "malformed"}])
        raise _api_error(reply.error)
    page = AssetPage(
        items=[AssetResource.of(a) for a in reply.assets], next_cursor=reply.next_cursor
    )
    return model_response(page)


async def _file(request: web.Request, key: str, content_type: str, name: str) -> web.FileResponse:
    storage: LocalStorage = request.app[STORAGE]
    if not await storage.exists(key):
        raise NotFound("the asset's file is gone")
    # FileResponse answers Range requests (206) so players can seek in audio and video.
    response = web.FileResponse(
        storage.path(key),
        headers={
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{name}"',
        },
    )
    response.content_type = content_type
    return response


@operation(
    summary="An asset's file, as uploaded",
    tags=("assets",),
    headers=FILE_REQUEST_HEADERS,
    responses={**file_responses(*ASSET_MEDIA), **UPSTREAM},
    media_token=True,
)
async def asset_content(request: web.Request) -> web.FileResponse:
    asset = await _visible(request)
    name = f"{asset.id}.{asset.key.rsplit('.', 1)[-1]}"
    return await _file(request, asset.key, asset.mime_type, name)


@operation(
    summary="An asset's thumbnail (JPEG)",
    tags=("assets",),
    headers=FILE_REQUEST_HEADERS,
    responses={**file_responses("image/jpeg"), **UPSTREAM},
    media_token=True,
)
async def asset_thumbnail(request: web.Request) -> web.FileResponse:
    asset = await _visible(request)
    if asset.thumbnail_key is None:
        raise NotFound(f"asset {asset.id} has no thumbnail")
    return await _file(request, asset.thumbnail_key, "image/jpeg", f"{asset.id}_thumb.jpg")


# --------------------------------------------------------------------------- delete


async def jobs_using(db: Database, client_id: str, asset_id: str) -> list[str]:
    """Unfinished jobs of `client_id` whose request names `asset_id` (in `assets` or the
    brand). The assets service knows no jobs, so the gateway, which owns them, decides."""
    final = [s.value for s in JobStatus if s.is_final]
    marks = ", ".join("?" for _ in final)
    rows = await db.fetchall(
        f"SELECT id FROM generated_videos WHERE client_id = ? AND status NOT IN ({marks})"
        " AND instr(request_json, ?) > 0 ORDER BY created_at LIMIT 20",
        [client_id, *final, f'"{asset_id}"'],
    )
    return [row["id"] for row in rows]


@operation(
    summary="Delete an asset",
    tags=("assets",),
    responses={204: None, 404: ERROR, 409: ERROR, **UPSTREAM},
    description="409 while an unfinished job uses it (`details.jobs` lists them).",
)
async def delete_asset(request: web.Request) -> web.Response:
    asset = await _visible(request)
    # A job created between this check and the delete can still lose the asset; the
    # storyboard and renderer then go on without it (they look assets up in storage).
    jobs = await jobs_using(request.app[DB], asset.client_id, asset.id)
    if jobs:
        raise Conflict(
            f"asset {asset.id} is used by {len(jobs)} unfinished job(s); "
            "delete it once they are completed, failed or canceled",
            {"jobs": jobs},
        )
    body = DeleteRequest(client_id=asset.client_id, asset_id=asset.id)
    reply = await _request(request.app[BUS], DELETE, body, DeleteReply, QUERY_TIMEOUT_S)
    if reply.error is not None:
        raise _api_error(reply.error)
    return web.Response(status=204)
