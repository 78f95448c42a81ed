"""Commands on a job: each state change written with the event announcing it, in one
SQLite transaction (the outbox)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable

from services.gateway.clients.estimate import Estimate
from services.gateway.http.errors import Conflict, Forbidden, NotFound, Unprocessable
from services.gateway.jobs.store import (
    JobRecord,
    cost_items_json,
    enqueue,
    event_for,
    load,
    record_from,
    write,
)
from services.gateway.webhooks.queue import load_notifying
from shared.db import NOW_SQL, Database
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
    Job,
    JobStatus,
    Progress,
    Storyboard,
    StoryboardEdit,
)

EDITABLE = (JobStatus.storyboard_ready, JobStatus.approved)
NOT_YET_APPROVED = (
    JobStatus.queued,
    JobStatus.storyboarding,
    JobStatus.storyboard_ready,
    JobStatus.refining,
)


def encode_cursor(created_at: str, job_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at}|{job_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created_at, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
    except ValueError:
        raise Unprocessable(
            "invalid cursor", [{"field": "cursor", "message": "malformed"}]
        ) from None
    return created_at, job_id


def require(record: JobRecord, allowed: tuple[JobStatus, ...], action: str) -> None:
    if record.job.status not in allowed:
        wanted = " or ".join(allowed)
        raise Conflict(
            f"cannot {action} while the job is {record.job.status} (needs {wanted})",
            {"status": record.job.status},
        )


def storyboard_of(record: JobRecord) -> Storyboard:
    """The job's storyboard, or a Conflict when it has none yet."""
    if record.job.storyboard is None:
        raise Conflict(f"job {record.job.id} has no storyboard yet", {"status": record.job.status})
    return record.job.storyboard


class JobStore:
    def __init__(self, db: Database, on_outbox: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.on_outbox = on_outbox

    async def create(
        self,
        job_id: str,
        client_id: str,
        request: GenerationRequest,
        estimate: Estimate | None = None,
    ) -> JobRecord:
        estimate = estimate or Estimate(total_usd=0.0, items=[])
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO generated_videos (id, campaign_id, client_id, status, prompt,"
                " request_json, progress, estimated_cost, cost_items, updated_at)"
                f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {NOW_SQL})",
                (
                    job_id,
                    request.campaign_id,
                    client_id,
                    JobStatus.queued,
                    request.prompt,
                    request.model_dump_json(),
                    Progress(
                        stage="queued", message="waiting for a storyboard worker"
                    ).model_dump_json(),
                    estimate.total_usd,
                    cost_items_json(estimate.items),
                ),
            )
            for payload in (JobCreated(request=request), StoryboardRequested(request=request)):
                await enqueue(tx, payload.envelope(job_id=job_id, client_id=client_id))
            record = await load(tx, job_id)
        self.on_outbox()
        return record

    async def get(self, job_id: str) -> JobRecord | None:
        row = await self.db.fetchone("SELECT * FROM generated_videos WHERE id = ?", (job_id,))
        return record_from(row) if row else None

    async def list(
        self,
        client_id: str | None,
        status: JobStatus | None,
        campaign_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Job], str | None]:
        where, params = [], []
        filters = (("client_id", client_id), ("status", status), ("campaign_id", campaign_id))
        for column, value in filters:
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if cursor:
            created_at, job_id = decode_cursor(cursor)
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            params += [created_at, created_at, job_id]
        sql = "SELECT * FROM generated_videos"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        rows = await self.db.fetchall(sql, [*params, limit + 1])
        jobs = [record_from(row).job for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor(last["created_at"], last["id"])
        return jobs, next_cursor

    async def edit_storyboard(self, job_id: str, edit: StoryboardEdit) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await load(tx, job_id)
            require(record, EDITABLE, "edit the storyboard")
            storyboard = apply_edit(storyboard_of(record), edit)
            await write(
                tx,
                job_id,
                status=JobStatus.storyboard_ready,
                storyboard_data=storyboard.model_dump_json(
                    exclude={"scenes": {"__all__": {"image_url"}}}
                ),
                approved=0,
                approved_at=None,
            )
            await enqueue(tx, event_for(record, StoryboardEdited(storyboard=storyboard)))
            record = await load(tx, job_id)
        self.on_outbox()
        return record

    async def request_refine(self, job_id: str, index: int, feedback: str) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await load(tx, job_id)
            require(record, EDITABLE, "refine a scene")
            storyboard = storyboard_of(record)
            if not any(scene.index == index for scene in storyboard.scenes):
                raise NotFound(
                    f"scene {index} not found (the storyboard has {len(storyboard.scenes)})"
                )
            progress = Progress(stage="refining", percent=0, message=f"refining scene {index}")
            await write(
                tx,
                job_id,
                status=JobStatus.refining,
                progress=progress.model_dump_json(),
                approved=0,
                approved_at=None,
                error_message=None,
            )
            refine = SceneRefineRequested(
                request=record.request,
                storyboard=storyboard,
                scene_index=index,
                feedback=feedback,
            )
            await enqueue(tx, event_for(record, refine))
            record = await load(tx, job_id)
        self.on_outbox()
        return record

    async def approve(self, job_id: str) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await load(tx, job_id)
            require(record, (JobStatus.storyboard_ready,), "approve")
            storyboard = storyboard_of(record)
            ready = Progress(stage="approved", percent=100, message="ready to render")
            await tx.execute(
                f"UPDATE generated_videos SET status = ?, approved = 1, approved_at = {NOW_SQL},"
                f" progress = ?, updated_at = {NOW_SQL} WHERE id = ?",
                (JobStatus.approved, ready.model_dump_json(), job_id),
            )
            approved = JobApproved(storyboard=storyboard)
            await enqueue(tx, event_for(record, approved))
            record = await load(tx, job_id)
        self.on_outbox()
        return record

    @staticmethod
    def check_renderable(record: JobRecord) -> None:
        if record.job.status in NOT_YET_APPROVED:
            raise Forbidden(
                "the storyboard must be approved before it is rendered",
                {"status": record.job.status, "approved": record.job.approved},
            )
        require(record, (JobStatus.approved,), "render")

    async def request_render(self, job_id: str, estimate: Estimate | None = None) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await load(tx, job_id)
            self.check_renderable(record)
            storyboard = storyboard_of(record)
            progress = Progress(stage="rendering", percent=0, message="waiting for a renderer")
            await write(
                tx,
                job_id,
                status=JobStatus.rendering,
                progress=progress.model_dump_json(),
                error_message=None,
            )
            if estimate is not None and estimate.items:
                # Re-priced with the approved storyboard's real scene lengths.
                await write(
                    tx,
                    job_id,
                    estimated_cost=estimate.total_usd,
                    cost_items=cost_items_json(estimate.items),
                )
            render = RenderRequested(request=record.request, storyboard=storyboard)
            await enqueue(tx, event_for(record, render))
            record = await load(tx, job_id)
        self.on_outbox()
        return record

    async def request_export(self, job_id: str, export: ExportRequest) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await load(tx, job_id)
            require(record, (JobStatus.completed,), "export")
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
            progress = Progress(stage="exporting", percent=0, message=f"exporting {export.aspect}")
            await write(tx, job_id, progress=progress.model_dump_json())
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
            if record.job.status.is_final:
                raise Conflict(f"job is already {record.job.status}; nothing to cancel")
            progress = record.job.progress.model_copy(update={"message": "canceled"})
            await write(tx, job_id, status=JobStatus.canceled, progress=progress.model_dump_json())
            canceled = event_for(record, JobCanceled())
            await enqueue(tx, canceled)
            record = await load_notifying(tx, job_id, canceled.id)
        self.on_outbox()
        return record


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
    return Storyboard(scenes=reordered)
