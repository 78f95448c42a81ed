"""HTTP views: parse and validate, call the job store, answer with the job model."""

from __future__ import annotations

import asyncio
import uuid

import orjson
from aiohttp import web

from services.gateway import billing
from services.gateway.bodies import read_body
from services.gateway.brief_assets import check_scene_clips, resolve_assets
from services.gateway.cache import CachedJob, JobCache
from services.gateway.errors import ApiError, NotFound
from services.gateway.jobs import JobRecord
from services.gateway.keys import BUS, CACHE, DB, STORAGE, STORE
from services.gateway.middlewares import principal_of
from shared.metrics import exposition
from shared.models import (
    ExportRequest,
    GenerationRequest,
    JobPage,
    JobStatus,
    RefineRequest,
    StoryboardEdit,
    VideoOutput,
)
from shared.storage import LocalStorage

SSE_HEARTBEAT_S = 15.0
JSON = "application/json"


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


async def create_job(request: web.Request) -> web.Response:
    generation = await read_body(request, GenerationRequest)
    principal = principal_of(request)
    generation = await resolve_assets(request, generation, principal.client_id)
    job_id = uuid.uuid4().hex
    estimated = await billing.reserve(
        request, job_id, principal.client_id, "storyboard", generation
    )
    record = await request.app[STORE].create(job_id, principal.client_id, generation, estimated)
    entry = _remember(request, record)
    response = _job_response(entry, status=202)
    response.headers["Location"] = f"/api/v2/jobs/{record.job.id}"
    return response


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


async def list_jobs(request: web.Request) -> web.Response:
    query = request.query
    principal = principal_of(request)
    try:
        status = JobStatus(query["status"]) if "status" in query else None
        limit = int(query.get("limit", "20"))
        if not 1 <= limit <= 100:
            raise ValueError
    except ValueError:
        raise ApiError(
            "invalid query: status must be a job status, limit 1-100",
            {"allowed_status": [s.value for s in JobStatus]},
        ) from None
    jobs, next_cursor = await request.app[STORE].list(
        None if principal.is_admin else principal.client_id,
        status,
        query.get("campaign_id"),
        limit,
        query.get("cursor"),
    )
    page = JobPage(items=jobs, next_cursor=next_cursor)
    return web.Response(body=page.model_dump_json(), content_type=JSON)


async def edit_storyboard(request: web.Request) -> web.Response:
    entry = await _visible(request)
    edit = await read_body(request, StoryboardEdit)
    await check_scene_clips(request, edit, entry.client_id)
    record = await request.app[STORE].edit_storyboard(entry.job.id, edit)
    return _job_response(_remember(request, record))


async def refine_scene(request: web.Request) -> web.Response:
    entry = await _visible(request)
    refine = await read_body(request, RefineRequest)
    index = int(request.match_info["n"])
    record = await request.app[STORE].request_refine(entry.job.id, index, refine.feedback)
    return _job_response(_remember(request, record), status=202)


async def approve_job(request: web.Request) -> web.Response:
    entry = await _visible(request)
    record = await request.app[STORE].approve(entry.job.id)
    return _job_response(_remember(request, record))


async def cancel_job(request: web.Request) -> web.Response:
    entry = await _visible(request)
    record = await request.app[STORE].cancel(entry.job.id)
    return _job_response(_remember(request, record))


async def render_job(request: web.Request) -> web.Response:
    entry = await _visible(request)
    store = request.app[STORE]
    record = await store.get(entry.job.id)
    assert record is not None
    store.check_renderable(record)
    estimated = await billing.reserve(
        request, record.job.id, record.client_id, "render", record.request, record.job.storyboard
    )
    record = await store.request_render(entry.job.id, estimated)
    return _job_response(_remember(request, record), status=202)


async def export_job(request: web.Request) -> web.Response:
    entry = await _visible(request)
    export = await read_body(request, ExportRequest)
    record = await request.app[STORE].request_export(entry.job.id, export)
    return _job_response(_remember(request, record), status=202)


def _output(entry: CachedJob, request: web.Request) -> VideoOutput:
    try:
        variation = int(request.query.get("variation", "1"))
    except ValueError:
        raise ApiError("variation must be a number") from None
    for output in entry.job.outputs:
        if output.kind == "render" and output.variation == variation:
            return output
    raise NotFound(f"job {entry.job.id} has no finished video for variation {variation}")


def _file(request: web.Request, key: str, content_type: str) -> web.FileResponse:
    # FileResponse answers Range requests (206, Accept-Ranges) so players can seek.
    storage: LocalStorage = request.app[STORAGE]
    response = web.FileResponse(storage.path(key), headers={"Cache-Control": "private"})
    response.content_type = content_type
    return response


async def job_video(request: web.Request) -> web.StreamResponse:
    entry = await _visible(request)
    return _file(request, _output(entry, request).key, "video/mp4")


async def job_poster(request: web.Request) -> web.StreamResponse:
    entry = await _visible(request)
    output = _output(entry, request)
    if output.poster_key is None:
        raise NotFound(f"no poster for variation {output.variation}")
    return _file(request, output.poster_key, "image/jpeg")


async def job_export_file(request: web.Request) -> web.StreamResponse:
    entry = await _visible(request)
    name = request.match_info["name"]
    for output in entry.job.outputs:
        if output.kind == "export" and output.key.rsplit("/", 1)[-1] == name:
            return _file(request, output.key, "video/mp4")
    raise NotFound(f"no export {name} for job {entry.job.id}")


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


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": "gateway"})


async def readyz(request: web.Request) -> web.Response:
    nats_ok = request.app[BUS].connected
    db_ok = await request.app[DB].ping()
    ready = nats_ok and db_ok
    return web.Response(
        body=orjson.dumps(
            {"status": "ready" if ready else "not_ready", "nats": nats_ok, "db": db_ok}
        ),
        status=200 if ready else 503,
        content_type=JSON,
    )


async def metrics(_: web.Request) -> web.Response:
    body, content_type = exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})
