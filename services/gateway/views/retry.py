"""`POST /api/v2/jobs/{id}/retry`: a failed job starts again from the stage it failed in,
as its next attempt, with the stage's original request. Nothing made before is redone
needlessly: the renderer reuses every checkpointed clip whose inputs are unchanged, the
storyboard's frames and the clips are still in storage, and billing re-reserves only the
failed stage (a released reservation key opens again)."""

from __future__ import annotations

from aiohttp import web

from services.gateway.appkeys import DB, STORE
from services.gateway.contract.operations import ERROR, IDEMPOTENCY_KEY, Response, operation
from services.gateway.http.errors import NotFound
from services.gateway.http.queries import BudgetQuery
from services.gateway.jobs.lifecycle import Stage
from services.gateway.jobs.reaper import announce
from services.gateway.jobs.recovery import check_retryable, restart_failed
from services.gateway.jobs.reservations import render_terms, storyboard_terms
from services.gateway.views import billing
from services.gateway.views.job_access import JOB_HEADERS, job_response, remember, visible_job
from shared.models import Job


@operation(
    summary="Retry a failed job from the stage it failed in",
    tags=("jobs",),
    admission="enqueue",
    query=BudgetQuery,
    headers=IDEMPOTENCY_KEY,
    responses={
        202: Response(
            Job,
            "The job, `queued` (storyboard) or `rendering` again; `paused` when the daily "
            "budget cannot take the stage yet.",
            JOB_HEADERS,
        ),
        400: ERROR,  # a malformed Idempotency-Key
        404: ERROR,
        409: ERROR,
        429: ERROR,
        503: ERROR,
    },
    description="Only a `failed` job whose `retryable` is true (409 otherwise). The failed "
    "stage runs again with its original request; frames and checkpointed clips already made "
    "are reused. 429 when the client has too many jobs running. Paid backend: over the hard "
    "daily limit the retry is accepted and held (`paused`, resumed by itself at UTC "
    "midnight or when an admin raises today's limit), or 429 `daily_budget_exhausted` with "
    "`?on_budget=reject`; 503 when billing cannot be reached.",
)
async def retry_job(request: web.Request) -> web.Response:
    entry = await visible_job(request)
    record = await request.app[STORE].get(entry.job.id)
    if record is None:
        # The cache saw it, but the row is gone (deleted meanwhile).
        raise NotFound(f"job {entry.job.id} not found")
    stage = check_retryable(record)
    # Paid work reserves its money again first (the failure released it).
    terms = (
        render_terms(record.request, record.job.storyboard)
        if stage == Stage.render
        else storyboard_terms(record.request)
    )
    _, pause = await billing.reserve(request, record.job.id, record.client_id, terms)
    outcome = await restart_failed(request.app[DB], record.job.id, pause)
    announce(request.app, outcome)
    return job_response(remember(request, outcome.record), status=202)
