"""The job table: each state change written with the event announcing it, in one
SQLite transaction (the outbox), and the projection of worker events onto the row."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from services.gateway.errors import Conflict, NotFound, Unprocessable
from services.gateway.polling import poll_after_ms
from shared.bus import Bus
from shared.db import NOW_SQL, Database, Transaction
from shared.events import (
    Event,
    JobApproved,
    JobCanceled,
    JobCreated,
    SceneRefineRequested,
    StoryboardCompleted,
    StoryboardEdited,
    StoryboardFailed,
    StoryboardProgressed,
    StoryboardRequested,
)
from shared.models import (
    GenerationRequest,
    Job,
    JobStatus,
    Progress,
    Scene,
    Storyboard,
    StoryboardEdit,
)

PROJECTION = "gateway"
EDITABLE = (JobStatus.storyboard_ready, JobStatus.approved)
STORYBOARD_MOVING = (JobStatus.queued, JobStatus.storyboarding, JobStatus.refining)


@dataclass(frozen=True)
class JobRecord:
    job: Job
    client_id: str
    request: GenerationRequest
    attempt: int


def frame_url(job_id: str, scene: Scene) -> str:
    # The version names the frame itself (its key and revision), so a cached image is
    # never shown for a scene that was reordered or refined.
    key = (scene.image_key or "").rsplit("/", 1)[-1].removesuffix(".jpg")
    return f"/api/v2/jobs/{job_id}/storyboard/{scene.index}.jpg?v={key}.{scene.revision}"


def _record(row: sqlite3.Row) -> JobRecord:
    status = JobStatus(row["status"])
    progress = Progress.model_validate_json(row["progress"] or "{}")
    storyboard = None
    if row["storyboard_data"]:
        storyboard = Storyboard.model_validate_json(row["storyboard_data"])
        for scene in storyboard.scenes:
            scene.image_url = frame_url(row["id"], scene)
    job = Job(
        id=row["id"],
        campaign_id=row["campaign_id"],
        status=status,
        progress=progress,
        storyboard=storyboard,
        approved=bool(row["approved"]),
        approved_at=row["approved_at"],
        estimated_cost=row["estimated_cost"],
        actual_cost=row["actual_cost"],
        retry_count=row["retry_count"],
        error_message=row["error_message"],
        video_url=row["video_url"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        poll_after_ms=poll_after_ms(status, progress.percent),
    )
    request = GenerationRequest.model_validate_json(row["request_json"])
    return JobRecord(job=job, client_id=row["client_id"], request=request, attempt=row["attempt"])


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


class JobStore:
    def __init__(self, db: Database, on_outbox: Callable[[], None] = lambda: None) -> None:
        self.db = db
        self.on_outbox = on_outbox

    async def create(self, job_id: str, client_id: str, request: GenerationRequest) -> JobRecord:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO generated_videos (id, campaign_id, client_id, status, prompt,"
                " request_json, progress, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
                f"{NOW_SQL})",
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
                ),
            )
            for payload in (JobCreated(request=request), StoryboardRequested(request=request)):
                await self._enqueue(tx, payload.envelope(job_id=job_id, client_id=client_id))
            record = await self._load(tx, job_id)
        self.on_outbox()
        return record

    async def get(self, job_id: str) -> JobRecord | None:
        row = await self.db.fetchone("SELECT * FROM generated_videos WHERE id = ?", (job_id,))
        return _record(row) if row else None

    async def list(
        self,
        client_id: str | None,
        status: JobStatus | None,
        campaign_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Job], str | None]:
        where, params = [], []
        for column, value in (
            ("client_id", client_id),
            ("status", status),
            ("campaign_id", campaign_id),
        ):
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
        jobs = [_record(row).job for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor(last["created_at"], last["id"])
        return jobs, next_cursor

    async def edit_storyboard(self, job_id: str, edit: StoryboardEdit) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await self._load(tx, job_id)
            self._require(record, EDITABLE, "edit the storyboard")
            assert record.job.storyboard is not None
            storyboard = apply_edit(record.job.storyboard, edit)
            await self._write(
                tx,
                job_id,
                status=JobStatus.storyboard_ready,
                storyboard_data=storyboard.model_dump_json(
                    exclude={"scenes": {"__all__": {"image_url"}}}
                ),
                approved=0,
                approved_at=None,
            )
            await self._enqueue(tx, self._event(record, StoryboardEdited(storyboard=storyboard)))
            record = await self._load(tx, job_id)
        self.on_outbox()
        return record

    async def request_refine(self, job_id: str, index: int, feedback: str) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await self._load(tx, job_id)
            self._require(record, EDITABLE, "refine a scene")
            storyboard = record.job.storyboard
            assert storyboard is not None
            if not any(scene.index == index for scene in storyboard.scenes):
                raise NotFound(
                    f"scene {index} not found (the storyboard has {len(storyboard.scenes)})"
                )
            progress = Progress(stage="refining", percent=0, message=f"refining scene {index}")
            await self._write(
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
            await self._enqueue(tx, self._event(record, refine))
            record = await self._load(tx, job_id)
        self.on_outbox()
        return record

    async def approve(self, job_id: str) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await self._load(tx, job_id)
            self._require(record, (JobStatus.storyboard_ready,), "approve")
            assert record.job.storyboard is not None
            await tx.execute(
                f"UPDATE generated_videos SET status = ?, approved = 1, approved_at = {NOW_SQL},"
                f" progress = ?, updated_at = {NOW_SQL} WHERE id = ?",
                (
                    JobStatus.approved,
                    Progress(
                        stage="approved", percent=100, message="ready to render"
                    ).model_dump_json(),
                    job_id,
                ),
            )
            await self._enqueue(
                tx, self._event(record, JobApproved(storyboard=record.job.storyboard))
            )
            record = await self._load(tx, job_id)
        self.on_outbox()
        return record

    async def cancel(self, job_id: str) -> JobRecord:
        async with self.db.transaction() as tx:
            record = await self._load(tx, job_id)
            if record.job.status.is_final:
                raise Conflict(f"job is already {record.job.status}; nothing to cancel")
            progress = record.job.progress.model_copy(update={"message": "canceled"})
            await self._write(
                tx, job_id, status=JobStatus.canceled, progress=progress.model_dump_json()
            )
            await self._enqueue(tx, self._event(record, JobCanceled()))
            record = await self._load(tx, job_id)
        self.on_outbox()
        return record

    # Projection of worker events. Each returns the new record, or None when the event
    # was a redelivery, is stale, or no longer applies (the job moved on or was canceled).

    async def on_storyboard_progressed(
        self, event: Event[StoryboardProgressed]
    ) -> JobRecord | None:
        async with self.db.transaction() as tx:
            record = await self._claim(tx, event)
            if record is None or record.job.status not in STORYBOARD_MOVING:
                return None
            current = record.job.progress
            progress = event.data.progress
            if current.stage == progress.stage and current.percent > progress.percent:
                progress = current
            status = (
                JobStatus.refining
                if record.job.status == JobStatus.refining
                else JobStatus.storyboarding
            )
            await self._write(tx, event.job_id, status=status, progress=progress.model_dump_json())
            return await self._load(tx, event.job_id)

    async def on_storyboard_completed(self, event: Event[StoryboardCompleted]) -> JobRecord | None:
        async with self.db.transaction() as tx:
            record = await self._claim(tx, event)
            if record is None or record.job.status not in STORYBOARD_MOVING:
                return None
            storyboard = event.data.storyboard
            done = (
                f"scene {event.data.refined_scene} refined"
                if event.data.refined_scene
                else f"{len(storyboard.scenes)} scenes ready for review"
            )
            await self._write(
                tx,
                event.job_id,
                status=JobStatus.storyboard_ready,
                storyboard_data=storyboard.model_dump_json(),
                progress=Progress(
                    stage="storyboard_ready", percent=100, message=done
                ).model_dump_json(),
                error_message=None,
            )
            return await self._load(tx, event.job_id)

    async def on_storyboard_failed(self, event: Event[StoryboardFailed]) -> JobRecord | None:
        async with self.db.transaction() as tx:
            record = await self._claim(tx, event)
            if record is None or record.job.status not in STORYBOARD_MOVING:
                return None
            # A failed refinement leaves the storyboard as it was; a failed first
            # storyboard fails the job.
            refined = event.data.refined_scene is not None and record.job.storyboard is not None
            status = JobStatus.storyboard_ready if refined else JobStatus.failed
            progress = record.job.progress.model_copy(update={"message": event.data.error_message})
            await self._write(
                tx,
                event.job_id,
                status=status,
                error_message=event.data.error_message,
                progress=progress.model_dump_json(),
            )
            return await self._load(tx, event.job_id)

    async def _claim(self, tx: Transaction, event: Event[Any]) -> JobRecord | None:
        if not await tx.claim_event(PROJECTION, event.id):
            return None
        row = await tx.fetchone("SELECT * FROM generated_videos WHERE id = ?", (event.job_id,))
        if row is None:
            return None
        record = _record(row)
        return None if event.attempt < record.attempt else record

    @staticmethod
    def _require(record: JobRecord, allowed: tuple[JobStatus, ...], action: str) -> None:
        if record.job.status not in allowed:
            wanted = " or ".join(allowed)
            raise Conflict(
                f"cannot {action} while the job is {record.job.status} (needs {wanted})",
                {"status": record.job.status},
            )

    @staticmethod
    def _event(record: JobRecord, payload: Any) -> Event[Any]:
        return payload.envelope(
            job_id=record.job.id, client_id=record.client_id, attempt=record.attempt
        )

    @staticmethod
    async def _load(tx: Transaction, job_id: str) -> JobRecord:
        row = await tx.fetchone("SELECT * FROM generated_videos WHERE id = ?", (job_id,))
        if row is None:
            raise NotFound(f"job {job_id} not found")
        return _record(row)

    @staticmethod
    async def _write(tx: Transaction, job_id: str, **columns: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        await tx.execute(
            f"UPDATE generated_videos SET {assignments}, updated_at = {NOW_SQL} WHERE id = ?",
            (*columns.values(), job_id),
        )

    @staticmethod
    async def _enqueue(tx: Transaction, event: Event[Any]) -> None:
        headers = Bus.event_headers(event)
        await tx.execute(
            "INSERT INTO outbox (id, subject, headers, payload) VALUES (?, ?, ?, ?)",
            (event.id, event.subject, orjson.dumps(headers), event.model_dump_json().encode()),
        )


def apply_edit(storyboard: Storyboard, edit: StoryboardEdit) -> Storyboard:
    """Scene text/duration edits by current index, then an optional new order."""
    scenes = {scene.index: scene.model_copy() for scene in storyboard.scenes}
    for change in edit.scenes:
        if change.index not in scenes:
            raise NotFound(f"scene {change.index} not found")
        updates = change.model_dump(exclude_unset=True, exclude={"index"})
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
