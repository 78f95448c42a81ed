"""Worker events projected onto the job row. Each method returns the new record, or None
when the event was a redelivery, is stale (an older attempt), or no longer applies (the
job moved on or was canceled)."""

from __future__ import annotations

from typing import Any

from services.gateway.jobs.public_errors import public_message
from services.gateway.jobs.stage_requests import EXPORT_PREFIX, finish
from services.gateway.jobs.store import JobRecord, load, outputs_json, record_from, video_url, write
from services.gateway.webhooks.queue import load_notifying
from shared.billing import JobCostUpdated
from shared.db import Database, Transaction
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
STORYBOARD_MOVING = (JobStatus.queued, JobStatus.storyboarding, JobStatus.refining)


async def claim(tx: Transaction, event: Event[Any], any_attempt: bool = False) -> JobRecord | None:
    """The job an event is about, once per event id, if the event is not stale (from an
    attempt older than the job's, unless `any_attempt`)."""
    if not await tx.claim_event(CONSUMER, event.id):
        return None
    row = await tx.fetchone("SELECT * FROM generated_videos WHERE id = ?", (event.job_id,))
    if row is None:
        return None
    record = record_from(row)
    return None if event.attempt < record.attempt and not any_attempt else record


def _forward(current: Progress, new: Progress) -> Progress:
    """Concurrent handlers may apply progress out of order: never move backwards."""
    if current.stage == new.stage and current.percent > new.percent:
        return current
    return new


class Projection:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def storyboard_progressed(self, event: Event[StoryboardProgressed]) -> JobRecord | None:
        async with self.db.transaction() as tx:
            record = await claim(tx, event)
            if record is None or record.job.status not in STORYBOARD_MOVING:
                return None
            progress = _forward(record.job.progress, event.data.progress)
            status = (
                JobStatus.refining
                if record.job.status == JobStatus.refining
                else JobStatus.storyboarding
            )
            await write(tx, event.job_id, status=status, progress=progress.model_dump_json())
            return await load(tx, event.job_id)

    async def storyboard_completed(self, event: Event[StoryboardCompleted]) -> JobRecord | None:
        async with self.db.transaction() as tx:
            record = await claim(tx, event)
            if record is None or record.job.status not in STORYBOARD_MOVING:
                return None
            storyboard = event.data.storyboard
            done = (
                f"scene {event.data.refined_scene} refined"
                if event.data.refined_scene
                else f"{len(storyboard.scenes)} scenes ready for review"
            )
            ready = Progress(stage="storyboard_ready", percent=100, message=done)
            await write(
                tx,
                event.job_id,
                status=JobStatus.storyboard_ready,
                storyboard_data=storyboard.model_dump_json(),
                progress=ready.model_dump_json(),
                error_message=None,
            )
            return await load_notifying(tx, event.job_id, event.id)

    async def storyboard_failed(self, event: Event[StoryboardFailed]) -> JobRecord | None:
        async with self.db.transaction() as tx:
            record = await claim(tx, event)
            if record is None or record.job.status not in STORYBOARD_MOVING:
                return None
            # A failed refinement leaves the storyboard as it was; a failed first
            # storyboard fails the job.
            refined = event.data.refined_scene is not None and record.job.storyboard is not None
            status = JobStatus.storyboard_ready if refined else JobStatus.failed
            message = public_message(event.data.error_message)
            progress = record.job.progress.model_copy(update={"message": message})
            await write(
                tx,
                event.job_id,
                status=status,
                error_message=message,
                progress=progress.model_dump_json(),
                failed_stage=None if refined else "storyboard",
            )
            return await load_notifying(tx, event.job_id, event.id)

    async def cost_updated(self, event: Event[JobCostUpdated]) -> JobRecord | None:
        async with self.db.transaction() as tx:
            # Money spent by an older attempt is still spent: cost has no stale attempts.
            record = await claim(tx, event, any_attempt=True)
            if record is None:
                return None
            # Cost only grows; an update delivered out of order must not lower it.
            actual = max(record.job.actual_cost or 0.0, float(event.data.actual_cost))
            await write(tx, event.job_id, actual_cost=actual)
            return await load(tx, event.job_id)

    async def render_progressed(self, event: Event[RenderProgressed]) -> JobRecord | None:
        async with self.db.transaction() as tx:
            record = await claim(tx, event)
            if record is None:
                return None
            exporting = event.data.export_id is not None
            wanted = JobStatus.completed if exporting else JobStatus.rendering
            if record.job.status != wanted:
                return None
            progress = _forward(record.job.progress, event.data.progress)
            await write(tx, event.job_id, progress=progress.model_dump_json())
            return await load(tx, event.job_id)

    async def render_completed(self, event: Event[RenderCompleted]) -> JobRecord | None:
        async with self.db.transaction() as tx:
            record = await claim(tx, event)
            if record is None:
                return None
            if event.data.export_id is not None:
                await finish(tx, event.job_id, EXPORT_PREFIX + event.data.export_id)
                if record.job.status != JobStatus.completed:
                    return None
                # A retried export may answer twice: an output is listed once.
                known = {out.key for out in record.job.outputs}
                added = [out for out in event.data.outputs if out.key not in known]
                outputs = [*record.job.outputs, *added]
                done = Progress(stage="completed", percent=100, message="export ready")
                await write(
                    tx,
                    event.job_id,
                    outputs=outputs_json(outputs),
                    progress=done.model_dump_json(),
                )
                return await load(tx, event.job_id)
            if record.job.status != JobStatus.rendering:
                return None
            outputs = list(event.data.outputs)
            first = min(outputs, key=lambda out: out.variation)
            count = len(outputs)
            done = Progress(
                stage="completed",
                percent=100,
                message=f"{count} video{'s' if count > 1 else ''} ready",
            )
            await write(
                tx,
                event.job_id,
                status=JobStatus.completed,
                outputs=outputs_json(outputs),
                video_url=video_url(event.job_id, first),
                progress=done.model_dump_json(),
                error_message=None,
            )
            return await load_notifying(tx, event.job_id, event.id)

    async def render_failed(self, event: Event[RenderFailed]) -> JobRecord | None:
        async with self.db.transaction() as tx:
            record = await claim(tx, event)
            if record is None:
                return None
            message = public_message(event.data.error_message)
            if event.data.export_id is not None:
                await finish(tx, event.job_id, EXPORT_PREFIX + event.data.export_id)
                if record.job.status != JobStatus.completed:
                    return None
                failed = record.job.progress.model_copy(update={"message": message})
                await write(tx, event.job_id, progress=failed.model_dump_json())
                return await load(tx, event.job_id)
            if record.job.status != JobStatus.rendering:
                return None
            progress = record.job.progress.model_copy(update={"message": message})
            await write(
                tx,
                event.job_id,
                status=JobStatus.failed,
                error_message=message,
                progress=progress.model_dump_json(),
                failed_stage="render",
            )
            return await load_notifying(tx, event.job_id, event.id)
