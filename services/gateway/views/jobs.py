"""The job's commands and reads: submit a brief, read and list jobs, edit and refine the
storyboard, approve, cancel, render, export, and follow a job live. Each parses and
validates, calls the job store, and answers with the job model."""

from __future__ import annotations

import uuid

from aiohttp import web

from services.gateway.appkeys import CACHE, SETTINGS, STORE
from services.gateway.contract import examples
from services.gateway.contract.operations import (
    ERROR,
    IDEMPOTENCY_KEY,
    EventStream,
    Header,
    Response,
    operation,
)
from services.gateway.http.bodies import read_body
from services.gateway.http.cors import add_cors_headers
from services.gateway.http.errors import NotFound
from services.gateway.http.middlewares import principal_of
from services.gateway.http.queries import BudgetQuery, JobListQuery, read_query
from services.gateway.jobs.cache import JobCache, KeepAlive
from services.gateway.jobs.reservations import refine_terms, render_terms, storyboard_terms
from services.gateway.metrics import job_approved, job_created, job_ended
from services.gateway.paths import job_url
from services.gateway.views import billing
from services.gateway.views.brief_assets import check_scene_clips, resolve_assets
from services.gateway.views.job_access import (
    JOB_HEADERS,
    job_page_response,
    job_response,
    poll_answer,
    remember,
    visible_job,
)
from services.gateway.views.webhooks import check_webhook_url
from shared.models import (
    ApproveRequest,
    ExportRequest,
    GenerationRequest,
    Job,
    JobPage,
    RefineRequest,
    StoryboardEdit,
)

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
    "budget. Over the hard limit the work is accepted and held: the job is `paused` (its "
    "`paused` says why and which stage waits) and resumes by itself at UTC midnight or when "
    "an admin raises today's limit; `?on_budget=reject` answers 429 "
    "`daily_budget_exhausted` with `Retry-After` instead. 503 when billing cannot be reached."
)
BUDGET_REFUSED = Response(ERROR, "`?on_budget=reject` over the hard daily limit.", RETRY_AFTER)


@operation(
    summary="Submit a brief: the storyboard starts",
    tags=("jobs",),
    admission="create",
    request=GenerationRequest,
    request_example=examples.BRIEF,
    query=BudgetQuery,
    headers=IDEMPOTENCY_KEY,
    responses={
        202: Response(
            Job,
            "The new job, `queued` (`paused` when the daily budget cannot take it yet).",
            headers={"Location": "The job's URL.", **JOB_HEADERS},
            links={target: {"job_id": "$response.body#/id"} for target in JOB_LINKS},
        ),
        400: ERROR,
        409: ERROR,
        429: Response(ERROR, "Too many jobs, or `?on_budget=reject` over budget.", RETRY_AFTER),
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
    estimated, pause = await billing.reserve(
        request, job_id, principal.client_id, storyboard_terms(generation)
    )
    record = await request.app[STORE].create(
        job_id, principal.client_id, generation, estimated, pause
    )
    job_created(generation.platform.value, request.app[SETTINGS].generation_backend)
    entry = remember(request, record)
    response = job_response(entry, status=202)
    response.headers["Location"] = job_url(record.job.id)
    return response


@operation(
    summary="A job: status, progress, storyboard, outputs, costs",
    tags=("jobs",),
    traced=False,
    headers={"If-None-Match": "The ETag of the copy you have: 304 when it is still current."},
    responses={
        200: Response(Job, headers=JOB_HEADERS),
        304: Response(None, headers=JOB_HEADERS),
        404: ERROR,
    },
    description="Served from the gateway's cache. Poll again after `poll_after_ms` "
    "(2000-10000, longer while the job waits for you; 15000 while it is `paused`), or "
    "follow `/events` instead.",
)
async def get_job(request: web.Request) -> web.Response:
    # The poll lane (http/poll_lane.py) answers most polls before they reach this view,
    # with the same `poll_answer`.
    entry = await visible_job(request)
    return poll_answer(entry, request.headers.get("If-None-Match"))


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
    store = request.app[STORE]
    ids, next_cursor = await store.list(
        None if principal.is_admin else principal.client_id,
        query.status,
        query.campaign_id,
        query.limit,
        query.cursor,
    )
    # Each job's JSON from the poll cache; the jobs not there are read and cached cold
    # (evicted first, so a list never pushes out the jobs being polled), so the page read
    # again (a dashboard refreshing, the next poll of a listed job) costs no reads.
    cache: JobCache = request.app[CACHE]
    bodies = {job_id: entry.body for job_id in ids if (entry := cache.peek(job_id))}
    missing = [job_id for job_id in ids if job_id not in bodies]
    for job_id, owned in (await store.jobs(missing)).items():
        bodies[job_id] = cache.add_read(owned.job, owned.client_id, cold=True).body
    return job_page_response([bodies[job_id] for job_id in ids if job_id in bodies], next_cursor)


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
    entry = await visible_job(request)
    edit = await read_body(request, StoryboardEdit)
    await check_scene_clips(request, edit, entry.client_id)
    record = await request.app[STORE].edit_storyboard(entry.job_id, edit)
    return job_response(remember(request, record))


@operation(
    summary="Redo one scene from feedback",
    tags=("jobs",),
    request=RefineRequest,
    request_example=examples.REFINE,
    query=BudgetQuery,
    responses={
        202: Job,
        400: ERROR,
        404: ERROR,
        409: ERROR,
        429: BUDGET_REFUSED,
        503: ERROR,
    },
    description="The job goes `refining`, then back to `storyboard_ready` with the scene's "
    "new script and frame (`revision` + 1). Clears an approval. A refinement is paid work: "
    + PAID_WORK,
)
async def refine_scene(request: web.Request) -> web.Response:
    entry = await visible_job(request)
    refine = await read_body(request, RefineRequest)
    index = int(request.match_info["n"])
    store = request.app[STORE]
    record = await store.get(entry.job_id)
    if record is None:
        # The cache saw it, but the row is gone (deleted meanwhile).
        raise NotFound(f"job {entry.job_id} not found")
    storyboard = store.check_refinable(record, index)
    terms = refine_terms(record.job.id, record.request, storyboard, index)
    _, pause = await billing.reserve(request, record.job.id, record.client_id, terms)
    record = await store.request_refine(entry.job_id, index, refine.feedback, pause)
    return job_response(remember(request, record), status=202)


@operation(
    summary="Approve the storyboard (needed before rendering)",
    tags=("jobs",),
    request=ApproveRequest,
    request_example={"override": {"reason": "Legal reviewed the claim on 2026-12-01"}},
    responses={200: Job, 404: ERROR, 409: ERROR},
    description="The body is optional. While the storyboard's preflight (`GET "
    "/jobs/{id}/checks`) has errors, approval is 409 `preflight_failed` listing them, unless "
    "the body overrides them with a reason; the override is recorded on the job "
    "(`preflight_override`).",
)
async def approve_job(request: web.Request) -> web.Response:
    entry = await visible_job(request)
    body = await read_body(request, ApproveRequest)
    reason = body.override.reason if body.override is not None else None
    client_id = principal_of(request).client_id
    record = await request.app[STORE].approve(entry.job_id, client_id, reason)
    job_approved(record, first_time=entry.job.approved_at is None)
    return job_response(remember(request, record))


@operation(
    summary="Cancel the job (running work stops within seconds)",
    tags=("jobs",),
    responses={200: Job, 404: ERROR, 409: ERROR},
)
async def cancel_job(request: web.Request) -> web.Response:
    entry = await visible_job(request)
    record = await request.app[STORE].cancel(entry.job_id)
    job_ended(record, request.app[SETTINGS].generation_backend)
    return job_response(remember(request, record))


@operation(
    summary="Render the approved storyboard into the final videos",
    tags=("jobs",),
    admission="enqueue",
    query=BudgetQuery,
    headers=IDEMPOTENCY_KEY,
    responses={
        202: Response(Job, "The job, `rendering` (`paused` when the budget cannot take it)."),
        400: ERROR,
        403: ERROR,
        404: ERROR,
        409: ERROR,
        429: Response(ERROR, "Too many jobs, or `?on_budget=reject` over budget.", RETRY_AFTER),
        503: ERROR,
    },
    description="403 until the storyboard is approved; 409 when the job is not "
    "renderable (already rendering, finished). " + PAID_WORK,
)
async def render_job(request: web.Request) -> web.Response:
    entry = await visible_job(request)
    store = request.app[STORE]
    record = await store.get(entry.job_id)
    if record is None:
        # The cache saw it, but the row is gone (deleted meanwhile).
        raise NotFound(f"job {entry.job_id} not found")
    store.check_renderable(record)
    terms = render_terms(record.request, record.job.storyboard)
    estimated, pause = await billing.reserve(request, record.job.id, record.client_id, terms)
    record = await store.request_render(entry.job_id, estimated, pause)
    return job_response(remember(request, record), status=202)


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
    entry = await visible_job(request)
    export = await read_body(request, ExportRequest)
    record = await request.app[STORE].request_export(entry.job_id, export)
    return job_response(remember(request, record), status=202)


@operation(
    summary="Follow a job live (server-sent events)",
    tags=("jobs",),
    # A span would stay open for the stream's whole life (minutes, thousands at once): kilobytes
    # held per stream, and one span as long as the job in the traces. The request is still
    # counted and timed in the HTTP metrics, and the job's own trace shows every change.
    traced=False,
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
    entry = await visible_job(request)
    cache: JobCache = request.app[CACHE]
    queue = cache.listen(entry.job_id)
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    add_cors_headers(request, response)  # sent now, before the middleware sees the answer
    await response.prepare(request)
    try:
        await response.write(b"event: job\ndata: " + entry.body + b"\n\n")
        while not entry.final:
            update = await queue.get()
            if isinstance(update, KeepAlive):
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
        cache.unlisten(entry.job_id, queue)
    return response
