"""Commands on a job: each state change written with the event announcing it, in one
SQLite transaction (the outbox). A command that starts paid work the daily budget cannot
take (create, refine, render: the view asked billing first) is held instead: given a
`Pause`, it writes the same change with the job `paused` and its request kept for the
resume loop (`jobs.pauses`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from services.gateway.clients.billing import Estimate
from services.gateway.http.errors import ApiError, Conflict, Forbidden, NotFound, Unprocessable
from services.gateway.jobs import lifecycle, store
from services.gateway.jobs.checks import override_for, storyboard_columns
from services.gateway.jobs.lifecycle import Command
from services.gateway.jobs.pauses import hold, launch
from services.gateway.jobs.stage_requests import StageStart
from services.gateway.jobs.store import JobRecord, cost_items_json, enqueue, event_for, load, write
from services.gateway.webhooks.queue import load_notifying
from shared.cursor import InvalidCursor, decode_cursor, encode_cursor
from shared.db import Database, GroupCommit, Transaction
from shared.events import (
    ExportRequested,
    JobApproved,
    JobCanceled,
    JobCreated,
    RenderRequested,
    SceneRefineRequested,
    StoryboardEdited,
    StoryboardRequested,
)
from shared.models import (
    ExportRequest,
    GenerationRequest,
    JobStatus,
    Pause,
    Storyboard,
    StoryboardEdit,
)


def cursor_position(cursor: str) -> tuple[str, str]:
    """The `(created_at, id)` a `next_cursor` names; 422 when it names none."""
    try:
        return decode_cursor(cursor)
    except InvalidCursor as exc:
        raise Unprocessable(
            "invalid cursor", [{"field": "cursor", "message": exc.reason}]
        ) from None


def refusal(refused: lifecycle.Refused, record: JobRecord) -> ApiError:
    """The HTTP error answering a change the lifecycle refused."""
    if isinstance(refused, lifecycle.NotApproved):
        return Forbidden(
            refused.message, {**(refused.details or {}), "approved": record.job.approved}
        )
    return Conflict(refused.message, refused.details)


def require(record: JobRecord, command: Command) -> JobStatus:
    """The status `command` moves the job to; 409 (403 for an unapproved render) when
    the job's status does not allow it."""
    try:
        return lifecycle.check_command(record.job.status, command)
    except lifecycle.Refused as refused:
        raise refusal(refused, record) from None


def storyboard_of(record: JobRecord) -> Storyboard:
    """The job's storyboard, or a Conflict when it has none yet."""
    if record.job.storyboard is None:
        raise Conflict(f"job {record.job.id} has no storyboard yet", {"status": record.job.status})
    return record.job.storyboard


class JobStore:
    def __init__(self, db: Database, on_outbox: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.on_outbox = on_outbox
        # New jobs arrive in bursts (a campaign's variations, a client's batch): the ones
        # that come while a commit runs are written together, one BEGIN/COMMIT a group.
        self.creations = GroupCommit(db)

    async def create(
        self,
        job_id: str,
        client_id: str,
        request: GenerationRequest,
        estimate: Estimate | None = None,
        pause: Pause | None = None,
    ) -> JobRecord:
        """A new job asking for its storyboard; with `pause`, created and held before it."""
        estimate = estimate or Estimate(total_usd=0.0, items=[])

        async def write(tx: Transaction) -> JobRecord:
            record = await store.insert(
                tx,
                job_id,
                client_id,
                request,
                lifecycle.queued_progress(),
                estimate.total_usd,
                estimate.items,
            )
            await enqueue(
                tx, JobCreated(request=request).envelope(job_id=job_id, client_id=client_id)
            )
            requested = StoryboardRequested(request=request)
            if pause is None:
                await enqueue(tx, requested.envelope(job_id=job_id, client_id=client_id))
                return record
            start = StageStart(requested, lifecycle.queued_progress())
            return await hold(tx, record, start, pause)

        record = await self.creations.run(write)
        self.on_outbox()
        return record

    async def get(self, job_id: str) -> JobRecord | None:
        return await store.get(self.db, job_id)

    async def list(
        self,
        client_id: str | None,
        status: JobStatus | None,
        campaign_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[str], str | None]:
        """A page of job ids, newest first, and the cursor of the next page (`jobs` reads
        the jobs the caller does not have)."""
        filters = (("client_id", client_id), ("status", status), ("campaign_id", campaign_id))
        after = cursor_position(cursor) if cursor else None
        ids, last = await store.page(self.db, filters, limit, after)
        return ids, encode_cursor(*last) if last else None

    async def jobs(self, ids: Sequence[str]) -> dict[str, store.OwnedJob]:
        return await store.jobs(self.db, ids)

    async def edit_storyboard(self, job_id: str, edit: StoryboardEdit) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await load(tx, job_id)
            status = require(record, Command.edit)
            storyboard = apply_edit(storyboard_of(record), edit)
            await store.move(
                tx,
                record,
                status,
                **storyboard_columns(record.request, storyboard),
                approved=0,
                approved_at=None,
            )
            await enqueue(tx, event_for(record, StoryboardEdited(storyboard=storyboard)))
            record = await load(tx, job_id)
        self.on_outbox()
        return record

    @staticmethod
    def check_refinable(record: JobRecord, index: int) -> Storyboard:
        """The storyboard whose scene `index` may be refined; 409 when the job's status
        does not allow a refinement, 404 for a scene it does not have."""
        require(record, Command.refine)
        storyboard = storyboard_of(record)
        if not any(scene.index == index for scene in storyboard.scenes):
            raise NotFound(f"scene {index} not found (the storyboard has {len(storyboard.scenes)})")
        return storyboard

    async def request_refine(
        self, job_id: str, index: int, feedback: str, pause: Pause | None = None
    ) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await load(tx, job_id)
            storyboard = self.check_refinable(record, index)
            refine = SceneRefineRequested(
                request=record.request,
                storyboard=storyboard,
                scene_index=index,
                feedback=feedback,
            )
            start = StageStart(refine, lifecycle.refining_progress(index))
            # A refinement withdraws the approval, whether it runs now or waits.
            columns = {"approved": 0, "approved_at": None, "error_message": None}
            if pause is None:
                await launch(tx, record, start, **columns)
                record = await load(tx, job_id)
            else:
                record = await hold(tx, record, start, pause, **columns)
        self.on_outbox()
        return record

    async def approve(
        self, job_id: str, client_id: str, override_reason: str | None = None
    ) -> JobRecord:
        """Approve the storyboard; while its preflight has errors, only with a reason (the
        override, who made it and which checks it covers are recorded on the job)."""
        async with self.db.transaction() as tx:
            record = await load(tx, job_id)
            require(record, Command.approve)
            storyboard = storyboard_of(record)
            override = override_for(record.job, override_reason, client_id)
            await store.approve(tx, record, lifecycle.approved_progress())
            if override is not None:
                await write(tx, job_id, preflight_override=override.model_dump_json())
            approved = JobApproved(storyboard=storyboard)
            await enqueue(tx, event_for(record, approved))
            record = await load(tx, job_id)
        self.on_outbox()
        return record

    @staticmethod
    def check_renderable(record: JobRecord) -> JobStatus:
        """403 while the storyboard is not approved yet, 409 for a job past rendering."""
        return require(record, Command.render)

    async def request_render(
        self, job_id: str, estimate: Estimate | None = None, pause: Pause | None = None
    ) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await load(tx, job_id)
            self.check_renderable(record)
            storyboard = storyboard_of(record)
            render = RenderRequested(request=record.request, storyboard=storyboard)
            start = StageStart(render, lifecycle.rendering_progress())
            # Re-priced with the approved storyboard's real scene lengths (billing prices
            # the render when it refuses it too).
            columns = estimate_columns(estimate)
            if pause is None:
                await launch(tx, record, start, error_message=None, **columns)
                record = await load(tx, job_id)
            else:
                record = await hold(tx, record, start, pause, error_message=None, **columns)
        self.on_outbox()
        return record

    async def request_export(self, job_id: str, export: ExportRequest) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await load(tx, job_id)
            require(record, Command.export)
            source = next(
                (
                    out
                    for out in record.job.outputs
                    if out.kind == "render" and out.variation == export.variation
                ),
                None,
            )
            if source is None:
                raise NotFound(f"variation {export.variation} of job {job_id} not found")
            progress = lifecycle.exporting_progress(f"exporting {export.aspect}")
            await store.set_progress(tx, job_id, progress)
            requested = ExportRequested(
                export_id=uuid.uuid4().hex[:12], aspect=export.aspect, source=source
            )
            await enqueue(tx, event_for(record, requested))
            record = await load(tx, job_id)
        self.on_outbox()
        return record

    async def cancel(self, job_id: str) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await load(tx, job_id)
            status = require(record, Command.cancel)
            progress = lifecycle.with_message(record.job.progress, lifecycle.CANCELED_MESSAGE)
            await store.move(tx, record, status, progress)
            canceled = event_for(record, JobCanceled())
            await enqueue(tx, canceled)
            record = await load_notifying(tx, job_id, canceled.id)
        self.on_outbox()
        return record


def estimate_columns(estimate: Estimate | None) -> dict[str, Any]:
    """The job's estimate as written when a stage is priced (nothing for free work)."""
    if estimate is None or not estimate.items:
        return {}
    return {"estimated_cost": estimate.total_usd, "cost_items": cost_items_json(estimate.items)}


def apply_edit(storyboard: Storyboard, edit: StoryboardEdit) -> Storyboard:
    """Scene text/duration edits by current index, then an optional new order."""
    scenes = {scene.index: scene.model_copy() for scene in storyboard.scenes}
    for change in edit.scenes:
        if change.index not in scenes:
            raise NotFound(f"scene {change.index} not found")
        updates = change.model_dump(exclude_unset=True, exclude={"index"})
        # null keeps a text or duration as it is; only a clip is cleared by null.
        updates = {k: v for k, v in updates.items() if v is not None or k == "clip_asset_id"}
        scenes[change.index] = scenes[change.index].model_copy(update=updates)
    order = edit.order or sorted(scenes)
    if sorted(order) != sorted(scenes):
        raise Unprocessable(
            "order must list every scene index exactly once",
            [{"field": "order", "message": f"expected a permutation of {sorted(scenes)}"}],
        )
    reordered = [scenes[i].model_copy(update={"index": n}) for n, i in enumerate(order, 1)]
    total = sum(scene.duration_s for scene in reordered)
    if not 5 <= total <= 60:
        raise Unprocessable(
            f"scene durations add up to {total:.1f}s; a video runs 5-60 s",
            [{"field": "scenes.duration_s", "message": "total out of range"}],
        )
    # The style, the variations' plans and what was left out stay the storyboard's.
    return storyboard.model_copy(update={"scenes": reordered})
