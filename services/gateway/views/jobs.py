"""HTTP views: parse and validate, call the job store, answer with the job model."""

from __future__ import annotations

import asyncio
import uuid

from aiohttp import web

from services.gateway.appkeys import BUS, CACHE, DB, SETTINGS, STORAGE, STORE
from services.gateway.contract import examples
from services.gateway.contract.operations import (
    ERROR,
    FILE_REQUEST_HEADERS,
    IDEMPOTENCY_KEY,
    EventStream,
    Header,
    Response,
    file_responses,
    operation,
)
from services.gateway.contract.schemas import Health, Readiness
from services.gateway.http.bodies import model_response, read_body
from services.gateway.http.errors import NotFound
from services.gateway.http.middlewares import principal_of
from services.gateway.http.queries import FrameQuery, JobListQuery, VariationQuery, read_query
from services.gateway.jobs.cache import CachedJob, JobCache
from services.gateway.jobs.store import JobRecord
from services.gateway.metrics import job_approved, job_created, job_ended
from services.gateway.views import billing
from services.gateway.views.brief_assets import check_scene_clips, resolve_assets
from services.gateway.webhooks.dispatcher import check_webhook_url
from shared.metrics import exposition
from shared.models import (
    ExportRequest,
    GenerationRequest,
    Job,
    JobPage,
    RefineRequest,
    StoryboardEdit,
    VideoOutput,
)
from shared.storage import LocalStorage

SSE_HEARTBEAT_S = 15.0
JSON = "application/json"
JOB_HEADERS = {
    "ETag": "Version of this representation of the job, for If-None-Match.",
    "Cache-Control": "`no-cache`: revalidate with If-None-Match.",
}
# What a new job's id opens (OpenAPI links: clients and test generators follow them).
JOB_LINKS = (
    "get_job",
    "job_events",
    "edit_storyboard",
    "approve_job",
    "cancel_job",
    "render_job",
    "export_job",
    "job_video",
    "job_poster",
    "job_captions_vtt",
    "job_captions_srt",
    "job_contact_sheet",
)
RETRY_AFTER = {"Retry-After": Header("Seconds until UTC midnight.", {"type": "integer"})}
PAID_WORK = (
    "Paid work (the `replicate` backend) first reserves its estimate against the daily "
    "budget: 429 when it is exhausted, 503 when billing cannot be reached."
)


def _job_response(entry: CachedJob, status: int = 200) -> web.Response:
    return web.Response(body=entry.body, status=status, content_type=JSON, headers=entry.headers)


async def _visible(request: web.Request) -> CachedJob:
    """The job named in the path, if the caller may see it (others' jobs are 404)."""
    job_id = request.match_info["job_id"]
    cache: JobCache = request.app[CACHE]
    entry = cache.get(job_id)
    if entry is None:
        record = await request.app[STORE].get(job_id)
        if record is not None:
            entry = cache.put(record.job, record.client_id)
    principal = principal_of(request)
    if entry is None or (entry.client_id != principal.client_id and not principal.is_admin):
        raise NotFound(f"job {job_id} not found")
    return entry


def _remember(request: web.Request, record: JobRecord) -> CachedJob:
    return request.app[CACHE].put(record.job, record.client_id)


@operation(
    summary="Submit a brief: the storyboard starts",
    tags=("jobs",),
    request=GenerationRequest,
    request_example=examples.BRIEF,
    headers=IDEMPOTENCY_KEY,
    responses={
        202: Response(
            Job,
            "The new job, `queued`.",
            headers={"Location": "The job's URL.", **JOB_HEADERS},
            links={target: {"job_id": "$response.body#/id"} for target in JOB_LINKS},
        ),
        400: ERROR,
        409: ERROR,
        429: Response(ERROR, headers=RETRY_AFTER),
        503: ERROR,
    },
    description="Asset ids the brief names (`assets`, `brand.logo_asset_id`, "
    "`brand.font_asset_id`) must be the client's own uploads (else 422); a brief without "
    "brand colours takes the logo's. " + PAID_WORK,
)
async def create_job(request: web.Request) -> web.Response:
    generation = await read_body(request, GenerationRequest)
    principal = principal_of(request)
    generation = await resolve_assets(request, generation, principal.client_id)
    await check_webhook_url(request, generation)
    job_id = uuid.uuid4().hex
    estimated = await billing.reserve(
        request, job_id, principal.client_id, "storyboard", generation
    )
    record = await request.app[STORE].create(job_id, principal.client_id, generation, estimated)
    job_created(generation.platform.value, request.app[SETTINGS].generation_backend)
    entry = _remember(request, record)
    response = _job_response(entry, status=202)
    response.headers["Location"] = f"/api/v2/jobs/{record.job.id}"
    return response


@operation(
    summary="A job: status, progress, storyboard, outputs, costs",
    tags=("jobs",),
    headers={"If-None-Match": "The ETag of the copy you have: 304 when it is still current."},
    responses={
        200: Response(Job, headers=JOB_HEADERS),
        304: Response(None, headers=JOB_HEADERS),
        404: ERROR,
    },
    description="Served from the gateway's cache. Poll again after `poll_after_ms` "
    "(2000-10000, longer while the job waits for you), or follow `/events` instead.",
)
async def get_job(request: web.Request) -> web.Response:
    entry = await _visible(request)
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and _etag_matches(if_none_match, entry.etag):
        return web.Response(status=304, headers=entry.headers)
    return _job_response(entry)


def _etag_matches(header: str, etag: str) -> bool:
    if header == etag:
        return True
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in candidates or "*" in candidates


@operation(
    summary="The client's jobs, newest first",
    tags=("jobs",),
    query=JobListQuery,
    responses={200: JobPage, 400: ERROR, 422: ERROR},
    description="An admin token lists every client's jobs. 422 for a malformed cursor.",
)
async def list_jobs(request: web.Request) -> web.Response:
    query = read_query(request, JobListQuery)
    principal = principal_of(request)
    jobs, next_cursor = await request.app[STORE].list(
        None if principal.is_admin else principal.client_id,
        query.status,
        query.campaign_id,
        query.limit,
        query.cursor,
    )
    page = JobPage(items=jobs, next_cursor=next_cursor)
    return model_response(page)


@operation(
    summary="Edit scenes (script, caption, visual prompt, duration, clip) and their order",
    tags=("jobs",),
    request=StoryboardEdit,
    request_example=examples.STORYBOARD_EDIT,
    responses={200: Job, 404: ERROR, 409: ERROR},
    description="Only while the storyboard is ready for review (or approved: an edit "
    "clears the approval). Scene durations must add up to 5-60 s; `clip_asset_id` must "
    "name one of the client's uploaded videos.",
)
async def edit_storyboard(request: web.Request) -> web.Response:
    entry = await _visible(request)
    edit = await read_body(request, StoryboardEdit)
    await check_scene_clips(request, edit, entry.client_id)
    record = await request.app[STORE].edit_storyboard(entry.job.id, edit)
    return _job_response(_remember(request, record))


@operation(
    summary="Redo one scene from feedback",
    tags=("jobs",),
    request=RefineRequest,
    request_example=examples.REFINE,
    responses={202: Job, 404: ERROR, 409: ERROR},
    description="The job goes `refining`, then back to `storyboard_ready` with the scene's "
    "new script and frame (`revision` + 1). Clears an approval.",
)
async def refine_scene(request: web.Request) -> web.Response:
    entry = await _visible(request)
    refine = await read_body(request, RefineRequest)
    index = int(request.match_info["n"])
    record = await request.app[STORE].request_refine(entry.job.id, index, refine.feedback)
    return _job_response(_remember(request, record), status=202)


@operation(
    summary="Approve the storyboard (needed before rendering)",
    tags=("jobs",),
    responses={200: Job, 404: ERROR, 409: ERROR},
)
async def approve_job(request: web.Request) -> web.Response:
    entry = await _visible(request)
    record = await request.app[STORE].approve(entry.job.id)
    job_approved(record, first_time=entry.job.approved_at is None)
    return _job_response(_remember(request, record))


@operation(
    summary="Cancel the job (running work stops within seconds)",
    tags=("jobs",),
    responses={200: Job, 404: ERROR, 409: ERROR},
)
async def cancel_job(request: web.Request) -> web.Response:
    entry = await _visible(request)
    record = await request.app[STORE].cancel(entry.job.id)
    job_ended(record, request.app[SETTINGS].generation_backend)
    return _job_response(_remember(request, record))


@operation(
    summary="Render the approved storyboard into the final videos",
    tags=("jobs",),
    headers=IDEMPOTENCY_KEY,
    responses={
        202: Job,
        400: ERROR,
        403: ERROR,
        404: ERROR,
        409: ERROR,
        429: Response(ERROR, headers=RETRY_AFTER),
        503: ERROR,
    },
    description="403 until the storyboard is approved; 409 when the job is not "
    "renderable (already rendering, finished). " + PAID_WORK,
)
async def render_job(request: web.Request) -> web.Response:
    entry = await _visible(request)
    store = request.app[STORE]
    record = await store.get(entry.job.id)
    if record is None:
        # The cache saw it, but the row is gone (deleted meanwhile).
        raise NotFound(f"job {entry.job.id} not found")
    store.check_renderable(record)
    estimated = await billing.reserve(
        request, record.job.id, record.client_id, "render", record.request, record.job.storyboard
    )
    record = await store.request_render(entry.job.id, estimated)
    return _job_response(_remember(request, record), status=202)


@operation(
    summary="Export a finished variation to another aspect ratio",
    tags=("jobs",),
    request=ExportRequest,
    request_example=examples.EXPORT,
    headers=IDEMPOTENCY_KEY,
    responses={202: Job, 400: ERROR, 404: ERROR, 409: ERROR},
    description="The job stays `completed`; the export appears in `outputs` with "
    '`kind: "export"` when done.',
)
async def export_job(request: web.Request) -> web.Response:
    entry = await _visible(request)
    export = await read_body(request, ExportRequest)
    record = await request.app[STORE].request_export(entry.job.id, export)
    return _job_response(_remember(request, record), status=202)


def _output(entry: CachedJob, request: web.Request) -> VideoOutput:
    variation = read_query(request, VariationQuery).variation
    for output in entry.job.outputs:
        if output.kind == "render" and output.variation == variation:
            return output
    raise NotFound(f"job {entry.job.id} has no finished video for variation {variation}")


def _file(
    request: web.Request, key: str, content_type: str, charset: str | None = None
) -> web.FileResponse:
    # FileResponse answers Range requests (206, Accept-Ranges) so players can seek.
    storage: LocalStorage = request.app[STORAGE]
    response = web.FileResponse(storage.path(key), headers={"Cache-Control": "private"})
    response.content_type = content_type
    if charset is not None:
        response.charset = charset
    return response


async def _stored_file(
    request: web.Request, key: str | None, what: str, content_type: str, charset: str | None = None
) -> web.FileResponse:
    """A render's side file (captions, contact sheet), 404 when the renderer made none: an
    older render, or one whose file is gone, is not a server error."""
    storage: LocalStorage = request.app[STORAGE]
    if key is None or not await storage.exists(key):
        raise NotFound(f"no {what} for this variation")
    return _file(request, key, content_type, charset)


def srt_key(vtt_key: str) -> str:
    """The SRT copy sits beside the WebVTT file, same name (`renderer.keys.captions_key`)."""
    return vtt_key.removesuffix(".vtt") + ".srt"


@operation(
    summary="A finished video (MP4, H.264/AAC, faststart)",
    tags=("media",),
    query=VariationQuery,
    headers=FILE_REQUEST_HEADERS,
    responses={**file_responses("video/mp4"), 400: ERROR},
    media_token=True,
)
async def job_video(request: web.Request) -> web.StreamResponse:
    entry = await _visible(request)
    return _file(request, _output(entry, request).key, "video/mp4")


@operation(
    summary="A finished video's poster frame",
    tags=("media",),
    query=VariationQuery,
    headers=FILE_REQUEST_HEADERS,
    responses={**file_responses("image/jpeg"), 400: ERROR},
    media_token=True,
)
async def job_poster(request: web.Request) -> web.StreamResponse:
    entry = await _visible(request)
    output = _output(entry, request)
    if output.poster_key is None:
        raise NotFound(f"no poster for variation {output.variation}")
    return _file(request, output.poster_key, "image/jpeg")


CAPTIONS_NOTE = (
    "The voice-over's words grouped into the caption pages the video shows (never across a "
    "scene change). 404 when the variation is not rendered or its render made no captions."
)


@operation(
    summary="A finished video's captions as WebVTT (with per-word timestamps)",
    tags=("media",),
    query=VariationQuery,
    headers=FILE_REQUEST_HEADERS,
    responses={**file_responses("text/vtt"), 400: ERROR},
    media_token=True,
    description=CAPTIONS_NOTE + " Each word after a cue's first carries an inline timestamp "
    "(`<00:00:01.200>word`) for karaoke-style highlighting; a `<track>` loads it as is.",
)
async def job_captions_vtt(request: web.Request) -> web.StreamResponse:
    entry = await _visible(request)
    output = _output(entry, request)
    return await _stored_file(request, output.captions_key, "captions", "text/vtt", charset="utf-8")


@operation(
    summary="A finished video's captions as SRT",
    tags=("media",),
    query=VariationQuery,
    headers=FILE_REQUEST_HEADERS,
    responses={**file_responses("application/x-subrip"), 400: ERROR},
    media_token=True,
    description=CAPTIONS_NOTE + " Numbered cues, `HH:MM:SS,mmm` timings, plain text.",
)
async def job_captions_srt(request: web.Request) -> web.StreamResponse:
    entry = await _visible(request)
    output = _output(entry, request)
    key = srt_key(output.captions_key) if output.captions_key else None
    return await _stored_file(request, key, "captions", "application/x-subrip", charset="utf-8")


@operation(
    summary="A finished video's contact sheet: one labelled frame per scene",
    tags=("media",),
    query=VariationQuery,
    headers=FILE_REQUEST_HEADERS,
    responses={**file_responses("image/jpeg"), 400: ERROR},
    media_token=True,
    description="Frames taken from the rendered video, tiled 3 across (4 beyond 9 scenes), "
    "each labelled with its scene and time. 404 when the render made none.",
)
async def job_contact_sheet(request: web.Request) -> web.StreamResponse:
    entry = await _visible(request)
    output = _output(entry, request)
    return await _stored_file(request, output.contact_sheet_key, "contact sheet", "image/jpeg")


@operation(
    summary="An exported video (its URL is in the job's `outputs`)",
    tags=("media",),
    headers=FILE_REQUEST_HEADERS,
    responses=file_responses("video/mp4"),
    path_params={"name": "The export's file name, as in its `url`."},
    media_token=True,
)
async def job_export_file(request: web.Request) -> web.StreamResponse:
    entry = await _visible(request)
    name = request.match_info["name"]
    for output in entry.job.outputs:
        if output.kind == "export" and output.key.rsplit("/", 1)[-1] == name:
            return _file(request, output.key, "video/mp4")
    raise NotFound(f"no export {name} for job {entry.job.id}")


@operation(
    summary="A storyboard scene's frame",
    tags=("media",),
    query=FrameQuery,
    responses={
        200: Response("image/jpeg", headers={"Cache-Control": "`private, max-age=3600`."}),
        404: ERROR,
    },
    media_token=True,
)
async def storyboard_frame(request: web.Request) -> web.Response:
    entry = await _visible(request)
    index = int(request.match_info["n"])
    scenes = entry.job.storyboard.scenes if entry.job.storyboard else []
    scene = next((s for s in scenes if s.index == index), None)
    storage: LocalStorage = request.app[STORAGE]
    if scene is None or not scene.image_key or not await storage.exists(scene.image_key):
        raise NotFound(f"no frame for scene {index} of job {entry.job.id}")
    return web.Response(
        body=await storage.read(scene.image_key),
        content_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@operation(
    summary="Follow a job live (server-sent events)",
    tags=("jobs",),
    responses={
        200: Response(
            EventStream("job", Job),
            "`event: job` messages whose `data` is the job (the `Job` schema): the current "
            "state first, then each change; the stream ends when the job is final.",
        ),
        404: ERROR,
    },
    description="A comment line (`: keep-alive`) every 15 s keeps proxies from closing an "
    "idle stream. Without SSE, poll `GET /jobs/{job_id}` instead.",
)
async def job_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the job now, then every change until it is final."""
    entry = await _visible(request)
    cache: JobCache = request.app[CACHE]
    queue = cache.listen(entry.job.id)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    try:
        await response.write(b"event: job\ndata: " + entry.body + b"\n\n")
        while not entry.job.status.is_final:
            try:
                update = await asyncio.wait_for(queue.get(), SSE_HEARTBEAT_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if update is None:
                break
            entry = update
            await response.write(b"event: job\ndata: " + entry.body + b"\n\n")
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client went away: normal for a stream
    finally:
        cache.unlisten(entry.job.id, queue)
    return response


@operation(
    summary="Liveness: the process answers",
    tags=("ops",),
    responses={200: Health},
    auth=False,
)
async def healthz(_: web.Request) -> web.Response:
    return model_response(Health())


@operation(
    summary="Readiness: NATS connected and the database answering",
    tags=("ops",),
    responses={200: Readiness, 503: Response(Readiness, "Not ready (yet).")},
    auth=False,
)
async def readyz(request: web.Request) -> web.Response:
    nats_ok = request.app[BUS].connected
    db_ok = await request.app[DB].ping()
    ready = nats_ok and db_ok
    readiness = Readiness(status="ready" if ready else "not_ready", nats=nats_ok, db=db_ok)
    return model_response(readiness, status=200 if ready else 503)


@operation(
    summary="Prometheus metrics",
    tags=("ops",),
    responses={200: Response("text/plain", "Prometheus text exposition format 0.0.4.")},
    auth=False,
)
async def metrics(_: web.Request) -> web.Response:
    body, content_type = exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})
