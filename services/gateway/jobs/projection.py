"""Worker events projected onto the job row. Each method returns the new record, or None
when the event was a redelivery, is stale (an older attempt), or no longer applies (the
job moved on or was canceled).

Events are applied by group commit (`shared.db.GroupCommit`): the events that arrive while
the previous group commits are applied in one transaction, and each method returns only
once its group is committed, so its message is acked after a durable write. A failing
event rolls its group back; the others are then applied one by one and only it fails.
The frequent events (a storyboard's progress and result) build the new record from the
row read once plus what they wrote, instead of reading the row back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.gateway.jobs.checks import storyboard_columns
from services.gateway.jobs.lifecycle import (
    Stage,
    export_stage,
    exported_progress,
    rendered_progress,
    runs,
    storyboard_made_progress,
    with_message,
)
from services.gateway.jobs.public_errors import public_message
from services.gateway.jobs.stage_requests import finish
from services.gateway.jobs.store import (
    JobRecord,
    find,
    load,
    move,
    outputs_json,
    request_of,
    rewritten,
    set_progress,
    with_frame_urls,
    write,
)
from services.gateway.paths import video_url
from services.gateway.webhooks.queue import load_notifying, queue_job_webhook
from shared.billing import JobCostUpdated
from shared.checks.findings import PreflightReport
from shared.checks.preflight import preflighted
from shared.db import Database, GroupCommit, Transaction
from shared.events import (
    Event,
    RenderCompleted,
    RenderFailed,
    RenderProgressed,
    StoryboardCompleted,
    StoryboardFailed,
    StoryboardProgressed,
)
from shared.models import JobStatus, Progress

CONSUMER = "gateway"
# A storyboard worker's answer applies while the job waits on a storyboard or refinement.
STORYBOARD_STAGES = (Stage.storyboard, Stage.refine)


async def claim(tx: Transaction, event: Event[Any], any_attempt: bool = False) -> JobRecord | None:
    """The job an event is about, once per event id, if the event is not stale (from an
    attempt older than the job's, unless `any_attempt`)."""
    if not await tx.claim_event(CONSUMER, event.id):
        return None
    record = await find(tx, event.job_id)
    if record is None:
        return None
    return None if event.attempt < record.attempt and not any_attempt else record


def _forward(current: Progress, new: Progress) -> Progress:
    """Concurrent handlers may apply progress out of order: never move backwards."""
    if current.stage == new.stage and current.percent > new.percent:
        return current
    return new


class Projection:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.group = GroupCommit(db)

    async def _apply(
        self, apply: Callable[[Transaction, Any], Awaitable[JobRecord | None]], event: Any
    ) -> JobRecord | None:
        return await self.group.run(lambda tx: apply(tx, event))

    async def storyboard_progressed(self, event: Event[StoryboardProgressed]) -> JobRecord | None:
        return await self._apply(_storyboard_progressed, event)

    async def storyboard_completed(self, event: Event[StoryboardCompleted]) -> JobRecord | None:
        report = event.data.preflight
        if report is None:
            # From a worker that sends none: preflighted here, before the write lock, not
            # under it (the brief never changes).
            request = await request_of(self.db, event.job_id)
            report = None if request is None else preflighted(request, event.data.storyboard)
        return await self.group.run(lambda tx: _storyboard_completed(tx, event, report))

    async def storyboard_failed(self, event: Event[StoryboardFailed]) -> JobRecord | None:
        return await self._apply(_storyboard_failed, event)

    async def cost_updated(self, event: Event[JobCostUpdated]) -> JobRecord | None:
        return await self._apply(_cost_updated, event)

    async def render_progressed(self, event: Event[RenderProgressed]) -> JobRecord | None:
        return await self._apply(_render_progressed, event)

    async def render_completed(self, event: Event[RenderCompleted]) -> JobRecord | None:
        return await self._apply(_render_completed, event)

    async def render_failed(self, event: Event[RenderFailed]) -> JobRecord | None:
        return await self._apply(_render_failed, event)


async def _storyboard_progressed(
    tx: Transaction, event: Event[StoryboardProgressed]
) -> JobRecord | None:
    record = await claim(tx, event)
    if record is None or not runs(record.job.status, *STORYBOARD_STAGES):
        return None
    progress = _forward(record.job.progress, event.data.progress)
    status = (
        JobStatus.refining if record.job.status == JobStatus.refining else JobStatus.storyboarding
    )
    updated_at = await move(tx, record, status, progress)
    if updated_at is None:
        return await load(tx, event.job_id)
    return rewritten(record, updated_at, status=status, progress=progress)


async def _storyboard_completed(
    tx: Transaction, event: Event[StoryboardCompleted], report: PreflightReport | None = None
) -> JobRecord | None:
    record = await claim(tx, event)
    if record is None or not runs(record.job.status, *STORYBOARD_STAGES):
        return None
    storyboard = event.data.storyboard
    report = report or preflighted(record.request, storyboard)
    progress = storyboard_made_progress(len(storyboard.scenes), event.data.refined_scene)
    updated_at = await move(
        tx,
        record,
        JobStatus.storyboard_ready,
        progress,
        **storyboard_columns(record.request, storyboard, report),
        error_message=None,
    )
    if updated_at is None:
        return await load_notifying(tx, event.job_id, event.id)
    record = rewritten(
        record,
        updated_at,
        status=JobStatus.storyboard_ready,
        progress=progress,
        storyboard=with_frame_urls(event.job_id, storyboard),
        preflight=report,
        preflight_override=None,
        error_message=None,
    )
    await queue_job_webhook(tx, record, event.id)
    return record


async def _storyboard_failed(tx: Transaction, event: Event[StoryboardFailed]) -> JobRecord | None:
    record = await claim(tx, event)
    if record is None or not runs(record.job.status, *STORYBOARD_STAGES):
        return None
    # A failed refinement leaves the storyboard as it was; a failed first storyboard
    # fails the job.
    refined = event.data.refined_scene is not None and record.job.storyboard is not None
    message = public_message(event.data.error_message)
    await move(
        tx,
        record,
        JobStatus.storyboard_ready if refined else JobStatus.failed,
        with_message(record.job.progress, message),
        error_message=message,
        failed_stage=None if refined else Stage.storyboard,
    )
    return await load_notifying(tx, event.job_id, event.id)


async def _cost_updated(tx: Transaction, event: Event[JobCostUpdated]) -> JobRecord | None:
    # Money spent by an older attempt is still spent: cost has no stale attempts.
    record = await claim(tx, event, any_attempt=True)
    if record is None:
        return None
    # Cost only grows; an update delivered out of order must not lower it.
    actual = max(record.job.actual_cost or 0.0, float(event.data.actual_cost))
    await write(tx, event.job_id, actual_cost=actual)
    return await load(tx, event.job_id)


async def _render_progressed(tx: Transaction, event: Event[RenderProgressed]) -> JobRecord | None:
    record = await claim(tx, event)
    if record is None:
        return None
    stage = Stage.render if event.data.export_id is None else Stage.export
    if not runs(record.job.status, stage):
        return None
    progress = _forward(record.job.progress, event.data.progress)
    await set_progress(tx, event.job_id, progress)
    return await load(tx, event.job_id)


async def _render_completed(tx: Transaction, event: Event[RenderCompleted]) -> JobRecord | None:
    record = await claim(tx, event)
    if record is None:
        return None
    if event.data.export_id is not None:
        await finish(tx, event.job_id, export_stage(event.data.export_id))
        if not runs(record.job.status, Stage.export):
            return None
        # A retried export may answer twice: an output is listed once.
        known = {out.key for out in record.job.outputs}
        added = [out for out in event.data.outputs if out.key not in known]
        outputs = [*record.job.outputs, *added]
        await write(
            tx,
            event.job_id,
            outputs=outputs_json(outputs),
            progress=exported_progress().model_dump_json(),
        )
        return await load(tx, event.job_id)
    if not runs(record.job.status, Stage.render):
        return None
    outputs = list(event.data.outputs)
    first = min(outputs, key=lambda out: out.variation)
    await move(
        tx,
        record,
        JobStatus.completed,
        rendered_progress(len(outputs)),
        outputs=outputs_json(outputs),
        video_url=video_url(event.job_id, first),
        error_message=None,
    )
    return await load_notifying(tx, event.job_id, event.id)


async def _render_failed(tx: Transaction, event: Event[RenderFailed]) -> JobRecord | None:
    record = await claim(tx, event)
    if record is None:
        return None
    message = public_message(event.data.error_message)
    if event.data.export_id is not None:
        await finish(tx, event.job_id, export_stage(event.data.export_id))
        if not runs(record.job.status, Stage.export):
            return None
        await set_progress(tx, event.job_id, with_message(record.job.progress, message))
        return await load(tx, event.job_id)
    if not runs(record.job.status, Stage.render):
        return None
    await move(
        tx,
        record,
        JobStatus.failed,
        with_message(record.job.progress, message),
        error_message=message,
        failed_stage=Stage.render,
    )
    return await load_notifying(tx, event.job_id, event.id)
