"""Uploads and the asset API. An upload streams from the socket to storage (`incoming/`)
under the byte limit (`http/multipart.py`), then the assets service is asked over NATS
(`clients/assets.py`) to validate and register it; whatever happens, the temporary
object is gone when the request ends. Reads and deletes go to the assets service too."""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import ValidationError

from services.gateway.appkeys import BUS, DB, SETTINGS, STORAGE
from services.gateway.clients.assets import (
    api_error,
    ask,
    find_assets,
    ingest,
)
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
    Unprocessable,
    UnsupportedMediaType,
)
from services.gateway.http.middlewares import principal_of
from services.gateway.http.multipart import FORM_OVERHEAD, UploadForm, read_form
from services.gateway.http.queries import AssetListQuery, read_query
from services.gateway.jobs.store import unfinished_using
from services.gateway.metrics import UPLOAD_REJECTIONS, UPLOAD_SIZE
from services.gateway.paths import asset_url
from shared.assets import (
    DELETE,
    LIST,
    QUERY_TIMEOUT_S,
    Asset,
    AssetPage,
    AssetResource,
    DeleteReply,
    DeleteRequest,
    IngestRequest,
    ListReply,
    ListRequest,
    can_own_uploads,
    display_name,
)
from shared.db import Database
from shared.events import new_id
from shared.storage import LocalStorage
from shared.uploads import incoming_key

JSON = "application/json"
# Every asset route asks the assets service over NATS.
UPSTREAM = {502: ERROR, 503: ERROR}
ASSET_MEDIA = ("image/*", "audio/*", "video/*", "font/*")


# --------------------------------------------------------------------------- upload


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
        409: ERROR,
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
        headers={"Location": asset_url(asset.id)},
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
            form = await read_form(await request.multipart(), storage, temp, limit)
        except (ValueError, HttpProcessingError) as exc:
            # aiohttp's parser names the offending bytes; the client needs no echo of them.
            raise ApiError(f"malformed multipart body ({exc.__class__.__name__})") from None
        if form.size is None:
            raise ApiError("the multipart field `file` is required")
        if form.size == 0:
            raise UnsupportedMediaType("the file is empty")
        body = _ingest_request(asset_id, client_id, temp, form, form.size)
        asset = await ingest(request.app[BUS], body)
    finally:
        # Moved into place (accepted) or not needed any more (refused, failed): either way.
        await storage.delete(temp)
    return asset, form.size


def _ingest_request(
    asset_id: str, client_id: str, temp: str, form: UploadForm, size: int
) -> IngestRequest:
    return IngestRequest(
        asset_id=asset_id,
        client_id=client_id,
        temp_key=temp,
        bytes=size,
        declared_kind=form.kind,
        declared_mime=(form.content_type or "")[:200] or None,
        original_name=display_name(form.filename),
    )


# --------------------------------------------------------------------------- reads


def _owner_filter(request: web.Request) -> str | None:
    principal = principal_of(request)
    return None if principal.is_admin else principal.client_id


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
    reply = await ask(request.app[BUS], LIST, body, ListReply, QUERY_TIMEOUT_S)
    if reply.error is not None:
        if reply.error.code == "invalid_request":
            raise Unprocessable("invalid cursor", [{"field": "cursor", "message": "malformed"}])
        raise api_error(reply.error)
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
    return await unfinished_using(db, client_id, asset_id)


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
    reply = await ask(request.app[BUS], DELETE, body, DeleteReply, QUERY_TIMEOUT_S)
    if reply.error is not None:
        raise api_error(reply.error)
    return web.Response(status=204)
