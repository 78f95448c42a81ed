"""Starting a job's stage again and giving up on it, for the stuck-job reaper, the dead
letter consumer and a client's retry. Each runs inside the caller's transaction: the row
update and the event it implies (a new request, or the failure billing and the audit
hear about) commit together through the outbox. A retry the daily budget cannot take is
held (`jobs.pauses`): the job is `paused` with the restarted request kept for later.

A new attempt is claimed first with a conditional UPDATE (`store.claim_attempt`): of
several gateway replicas acting on the same job, exactly one wins; the others change
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.gateway.jobs.lifecycle import (
    Stage,
    export_id_of,
    exporting_progress,
    is_export,
    restarted_progress,
    storyboard_ready_progress,
    with_message,
)
from services.gateway.jobs.pauses import hold, launch
from services.gateway.jobs.public_errors import public_message
from services.gateway.jobs.stage_requests import (
    StageRequest,
    StageStart,
    finish,
    load_request,
    set_retries,
)
from services.gateway.jobs.store import JobRecord, enqueue, load, move, set_progress
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
from shared.models import JobStatus, Pause


@dataclass(frozen=True)
class Outcome:
    """What changed: the job as written and the attempt to record for the workers (None
    when the attempt did not change)."""

    record: JobRecord
    attempt: int | None


async def stage_request(tx: Transaction, record: JobRecord, stage: str) -> StageRequest | None:
    """The request that started `stage`, rebuilt from the job itself for a job that began
    before requests were kept (a storyboard or a render can be; a refinement cannot)."""
    stored = await load_request(tx, record.job.id, stage)
    if stored is not None:
        return stored
    payload: Payload
    if stage == Stage.storyboard:
        payload = StoryboardRequested(request=record.request)
    elif stage == Stage.render and record.job.storyboard is not None:
        payload = RenderRequested(request=record.request, storyboard=record.job.storyboard)
    else:
        return None
    return StageRequest(record.job.id, stage, payload.subject, payload.model_dump_json(), 0)


async def start_again(
    tx: Transaction,
    record: JobRecord,
    request: StageRequest,
    attempt: int,
    message: str,
    pause: Pause | None = None,
) -> JobRecord:
    """Send `request` again as `attempt` (or, given `pause`, hold it: the job is paused
    with the attempt claimed and the request kept). An export keeps the job's attempt (the
    job is completed and other exports of it may be running); its copy has a new event id."""
    payload = request.payload()
    if request.is_export:
        await set_progress(tx, record.job.id, exporting_progress(message))
        await enqueue(
            tx, payload.envelope(job_id=record.job.id, client_id=record.client_id, attempt=attempt)
        )
        return await load(tx, record.job.id)
    start = StageStart(payload, restarted_progress(request.kind, message))
    columns = {
        "retry_count": record.job.retry_count + 1,
        "error_message": None,
        "failed_stage": None,
    }
    if pause is not None:
        return await hold(tx, record, start, pause, **columns)
    await launch(tx, record, start, attempt, **columns)
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
    if is_export(stage):
        await finish(tx, job_id, stage)
        await set_progress(tx, job_id, with_message(record.job.progress, reason))
        failure = RenderFailed(error_message=reason, export_id=export_id_of(stage))
    elif stage == Stage.refine:
        refine = request.payload() if request else None
        await move(
            tx,
            record,
            JobStatus.storyboard_ready,
            storyboard_ready_progress(reason),
            error_message=reason,
        )
        failure = None
        if isinstance(refine, SceneRefineRequested):
            failure = StoryboardFailed(error_message=reason, refined_scene=refine.scene_index)
    else:
        await move(
            tx,
            record,
            JobStatus.failed,
            with_message(record.job.progress, reason),
            error_message=reason,
            failed_stage=stage,
        )
        failure = (
            StoryboardFailed(error_message=reason)
            if stage == Stage.storyboard
            else RenderFailed(error_message=reason)
        )
    cause = f"gave-up:{job_id}:{stage}:{attempt}"
    if failure is not None:
        event: Event[Any] = failure.envelope(
            job_id=job_id, client_id=record.client_id, attempt=attempt
        )
        await enqueue(tx, event)
        cause = event.id
    if is_export(stage):
        return await load(tx, job_id)  # still completed: nothing new to notify
    return await load_notifying(tx, job_id, cause)


async def count_retry(tx: Transaction, request: StageRequest) -> None:
    """The reaper's retries of a request survive its re-send (which resets them)."""
    await set_retries(tx, request.job_id, request.stage, request.retries + 1)
