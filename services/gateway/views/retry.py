"""`POST /api/v2/jobs/{id}/retry`: a failed job starts again from the stage it failed in,
as its next attempt, with the stage's original request. Nothing made before is redone
needlessly: the renderer reuses every checkpointed clip whose inputs are unchanged, the
storyboard's frames and the clips are still in storage, and billing re-reserves only the
failed stage (a released reservation key opens again)."""

from __future__ import annotations

from aiohttp import web

from services.gateway.appkeys import DB, STORE
from services.gateway.contract.operations import ERROR, IDEMPOTENCY_KEY, Response, operation
from services.gateway.http.errors import Conflict, NotFound
from services.gateway.jobs.reaper import announce, stage_label
from services.gateway.jobs.stages import Outcome, claim_attempt, stage_request, start_again
from services.gateway.jobs.store import JobRecord, load
from services.gateway.views import billing
from services.gateway.views.jobs import JOB_HEADERS, _job_response, _remember, _visible
from shared.db import Database
from shared.models import Job, JobStatus


def check_retryable(record: JobRecord) -> str:
    """The stage to restart; 409 when the job is not failed or cannot be restarted."""
    job = record.job
    if job.status != JobStatus.failed:
        raise Conflict(
            f"only a failed job can be retried; this one is {job.status}", {"status": job.status}
        )
    if not job.retryable or job.failed_stage is None:
        raise Conflict(
            "this job cannot be retried: it did not fail in a stage that can start again",
            {"status": job.status, "failed_stage": job.failed_stage},
        )
    return job.failed_stage


async def restart_failed(db: Database, job_id: str) -> Outcome:
    """Start the failed stage again in one transaction (the request goes out through the
    outbox); 409 when the job changed meanwhile (e.g. a concurrent retry won)."""
    async with db.transaction() as tx:
        record = await load(tx, job_id)
        stage = check_retryable(record)
        request = await stage_request(tx, record, stage)
        if request is None:
            raise Conflict(f"the job's {stage_label(stage)} request is no longer known")
        attempt = await claim_attempt(tx, record)
        if attempt is None:
            raise Conflict("the job changed while it was being retried; look at it again")
        message = f"retrying the {stage_label(stage)} (attempt {attempt})"
        updated = await start_again(tx, record, request, attempt, message)
    return Outcome(updated, attempt)


@operation(
    summary="Retry a failed job from the stage it failed in",
    tags=("jobs",),
    headers=IDEMPOTENCY_KEY,
    responses={
        202: Response(Job, "The job, `queued` (storyboard) or `rendering` again.", JOB_HEADERS),
        400: ERROR,  # a malformed Idempotency-Key
        404: ERROR,
        409: ERROR,
        429: ERROR,
        503: ERROR,
    },
    description="Only a `failed` job whose `retryable` is true (409 otherwise). The failed "
    "stage runs again with its original request; frames and checkpointed clips already made "
    "are reused. 429 when the client has too many jobs running, or (paid backend) the daily "
    "budget is exhausted; 503 when billing cannot be reached.",
)
async def retry_job(request: web.Request) -> web.Response:
    entry = await _visible(request)
    record = await request.app[STORE].get(entry.job.id)
    if record is None:
        # The cache saw it, but the row is gone (deleted meanwhile).
        raise NotFound(f"job {entry.job.id} not found")
    stage = check_retryable(record)
    # Paid work reserves its money again first (the failure released it).
    await billing.reserve(
        request,
        record.job.id,
        record.client_id,
        "render" if stage == "render" else "storyboard",
        record.request,
        record.job.storyboard if stage == "render" else None,
    )
    outcome = await restart_failed(request.app[DB], record.job.id)
    announce(request.app, outcome)
    return _job_response(_remember(request, outcome.record), status=202)
