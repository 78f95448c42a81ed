"""Starting a job's stage again and giving up on it, for the stuck-job reaper, the dead
letter consumer and a client's retry. Each runs inside the caller's transaction: the row
update and the event it implies (a new request, or the failure billing and the audit
hear about) commit together through the outbox.

A new attempt is claimed with a conditional UPDATE (`claim_attempt`): of several gateway
replicas acting on the same job, exactly one wins; the others change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.gateway.jobs.public_errors import public_message
from services.gateway.jobs.stage_requests import (
    EXPORT_PREFIX,
    StageRequest,
    finish,
    load_request,
    set_retries,
)
from services.gateway.jobs.store import JobRecord, enqueue, load, write
from services.gateway.webhooks.queue import load_notifying
from shared.db import Transaction
from shared.events import (
    Event,
    Payload,
    RenderFailed,
    RenderRequested,
    SceneRefineRequested,
    StoryboardFailed,
    StoryboardRequested,
)
from shared.models import JobStatus, Progress

# The job-level stage each running status belongs to (exports run on a completed job).
RUNNING: dict[JobStatus, str] = {
    JobStatus.queued: "storyboard",
    JobStatus.storyboarding: "storyboard",
    JobStatus.refining: "refine",
    JobStatus.rendering: "render",
}
# The status a stage runs in once (re)started.
STARTED: dict[str, JobStatus] = {
    "storyboard": JobStatus.queued,
    "refine": JobStatus.refining,
    "render": JobStatus.rendering,
}


@dataclass(frozen=True)
class Outcome:
    """What changed: the job as written and the attempt to record for the workers (None
    when the attempt did not change)."""

    record: JobRecord
    attempt: int | None


def running_stage(record: JobRecord) -> str | None:
    return RUNNING.get(record.job.status)


async def stage_request(tx: Transaction, record: JobRecord, stage: str) -> StageRequest | None:
    """The request that started `stage`, rebuilt from the job itself for a job that began
    before requests were kept (a storyboard or a render can be; a refinement cannot)."""
    stored = await load_request(tx, record.job.id, stage)
    if stored is not None:
        return stored
    payload: Payload
    if stage == "storyboard":
        payload = StoryboardRequested(request=record.request)
    elif stage == "render" and record.job.storyboard is not None:
        payload = RenderRequested(request=record.request, storyboard=record.job.storyboard)
    else:
        return None
    return StageRequest(record.job.id, stage, payload.subject, payload.model_dump_json(), 0)


async def claim_attempt(
    tx: Transaction, record: JobRecord, stale_before: str | None = None
) -> int | None:
    """Move the job to its next attempt if it is still as `record` saw it (same attempt and
    status, and not updated since `stale_before` when given); the new attempt, or None
    when another replica or a worker's event got there first."""
    sql = (
        "UPDATE generated_videos SET attempt = attempt + 1"
        " WHERE id = ? AND attempt = ? AND status = ?"
    )
    params: list[Any] = [record.job.id, record.attempt, record.job.status]
    if stale_before is not None:
        sql += " AND updated_at < ?"
        params.append(stale_before)
    cursor = await tx.execute(sql, params)
    return record.attempt + 1 if cursor.rowcount == 1 else None


async def start_again(
    tx: Transaction, record: JobRecord, request: StageRequest, attempt: int, message: str
) -> JobRecord:
    """Send `request` again as `attempt`. An export keeps the job's attempt (the job is
    completed and other exports of it may be running); its copy has a new event id."""
    payload = request.payload()
    if request.is_export:
        progress = Progress(stage="exporting", percent=0, message=message)
        await write(tx, record.job.id, progress=progress.model_dump_json())
    else:
        stage_status = STARTED[request.stage]
        progress = Progress(stage=stage_status.value, percent=0, message=message)
        await write(
            tx,
            record.job.id,
            status=stage_status,
            progress=progress.model_dump_json(),
            retry_count=record.job.retry_count + 1,
            error_message=None,
            failed_stage=None,
        )
    await enqueue(
        tx, payload.envelope(job_id=record.job.id, client_id=record.client_id, attempt=attempt)
    )
    return await load(tx, record.job.id)


async def give_up(
    tx: Transaction,
    record: JobRecord,
    stage: str,
    request: StageRequest | None,
    attempt: int,
    reason: str,
) -> JobRecord:
    """End `stage` as failed with `reason` (made safe to show). A storyboard or a render
    fails the job; a refinement leaves the storyboard as it was; an export leaves the job
    completed. The failure event tells billing to release the stage's money (`request`,
    the stage's request if known, names the scene of a refinement)."""
    reason = public_message(reason)
    job_id = record.job.id
    failure: Payload | None
    if stage.startswith(EXPORT_PREFIX):
        await finish(tx, job_id, stage)
        progress = record.job.progress.model_copy(update={"message": reason})
        await write(tx, job_id, progress=progress.model_dump_json())
        failure = RenderFailed(error_message=reason, export_id=stage.removeprefix(EXPORT_PREFIX))
    elif stage == "refine":
        refine = request.payload() if request else None
        progress = Progress(stage="storyboard_ready", percent=100, message=reason)
        await write(
            tx,
            job_id,
            status=JobStatus.storyboard_ready,
            progress=progress.model_dump_json(),
            error_message=reason,
        )
        failure = None
        if isinstance(refine, SceneRefineRequested):
            failure = StoryboardFailed(error_message=reason, refined_scene=refine.scene_index)
    else:
        progress = record.job.progress.model_copy(update={"message": reason})
        await write(
            tx,
            job_id,
            status=JobStatus.failed,
            progress=progress.model_dump_json(),
            error_message=reason,
            failed_stage=stage,
        )
        failure = (
            StoryboardFailed(error_message=reason)
            if stage == "storyboard"
            else RenderFailed(error_message=reason)
        )
    cause = f"gave-up:{job_id}:{stage}:{attempt}"
    if failure is not None:
        event: Event[Any] = failure.envelope(
            job_id=job_id, client_id=record.client_id, attempt=attempt
        )
        await enqueue(tx, event)
        cause = event.id
    if stage.startswith(EXPORT_PREFIX):
        return await load(tx, job_id)  # still completed: nothing new to notify
    return await load_notifying(tx, job_id, cause)


async def count_retry(tx: Transaction, request: StageRequest) -> None:
    """The reaper's retries of a request survive its re-send (which resets them)."""
    await set_retries(tx, request.job_id, request.stage, request.retries + 1)
