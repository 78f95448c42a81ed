"""The `generated_videos` table, and the only module that reads or writes it: the row
read into the job model, a job created, a status changed (only as `lifecycle` allows),
columns written, the scans of the reaper, the resume loop and the admission check, and
events queued in the outbox within the caller's transaction. A paused job's pause and
held stage live beside its row in `paused_jobs`, written and deleted here with the moves
into and out of `paused`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter

from services.gateway.http.errors import NotFound
from services.gateway.jobs import stage_requests
from services.gateway.jobs.checks import checks_status
from services.gateway.jobs.lifecycle import (
    INITIAL,
    RUNNING,
    can_retry,
    check_transition,
    poll_after_ms,
)
from services.gateway.jobs.stage_requests import StageStart
from services.gateway.paths import check_thumbnail_url, frame_url, poster_url, video_url
from shared.bus import Bus
from shared.checks.findings import PreflightOverride, PreflightReport
from shared.db import NOW_SQL, Database, Transaction
from shared.events import Event, Payload
from shared.models import (
    CostItem,
    GenerationRequest,
    Job,
    JobStatus,
    Pause,
    Progress,
    Storyboard,
    VideoOutput,
)

M = TypeVar("M", bound=BaseModel)
OUTPUTS = TypeAdapter(list[VideoOutput])
COST_ITEMS = TypeAdapter(list[CostItem])


@dataclass(frozen=True)
class JobRecord:
    job: Job
    client_id: str
    request: GenerationRequest
    attempt: int
    # While the job is paused: the request that starts its held stage.
    held: StageStart | None = None


class Reader(Protocol):
    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None: ...


def record_from(row: sqlite3.Row, paused: sqlite3.Row | None = None) -> JobRecord:
    """The job of a `generated_videos` row (and of its `paused_jobs` row while paused),
    with what commands need besides (its request, attempt, held stage)."""
    request = GenerationRequest.model_validate_json(row["request_json"])
    held = StageStart.from_json(paused["held_request"]) if paused else None
    return JobRecord(
        job=job_from(row, paused),
        client_id=row["client_id"],
        request=request,
        attempt=row["attempt"],
        held=held,
    )


def job_from(row: sqlite3.Row, paused: sqlite3.Row | None = None) -> Job:
    """The job as the API shows it, from its row (and its `paused_jobs` row while paused)."""
    status = JobStatus(row["status"])
    progress = Progress.model_validate_json(row["progress"] or "{}")
    storyboard = None
    if row["storyboard_data"]:
        storyboard = Storyboard.model_validate_json(row["storyboard_data"])
        for scene in storyboard.scenes:
            scene.image_url = frame_url(row["id"], scene)
    outputs = OUTPUTS.validate_json(row["outputs"] or "[]")
    for output in outputs:
        output.url = video_url(row["id"], output)
        output.poster_url = poster_url(row["id"], output) if output.poster_key else None
        for finding in output.qc.findings if output.qc is not None else []:
            if finding.thumbnail_key:
                finding.thumbnail_url = check_thumbnail_url(row["id"], finding.thumbnail_key)
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
        cost_items=COST_ITEMS.validate_json(row["cost_items"] or "[]"),
        retry_count=row["retry_count"],
        error_message=row["error_message"],
        failed_stage=row["failed_stage"],
        retryable=can_retry(status, row["failed_stage"], storyboard),
        video_url=row["video_url"],
        outputs=outputs,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        poll_after_ms=poll_after_ms(status, progress.percent),
        preflight=_optional(PreflightReport, row["preflight"]),
        preflight_override=_optional(PreflightOverride, row["preflight_override"]),
        paused=_optional(Pause, paused["pause"] if paused else None),
    )
    job.checks_status = checks_status(job)
    return job


def _optional(model: type[M], data: str | None) -> M | None:
    return None if data is None else model.model_validate_json(data)


# --------------------------------------------------------------------------- reading


async def find(tx: Transaction, job_id: str) -> JobRecord | None:
    row = await tx.fetchone("SELECT * FROM generated_videos WHERE id = ?", (job_id,))
    return None if row is None else record_from(row, await _pause_of(tx, row))


async def load(tx: Transaction, job_id: str) -> JobRecord:
    record = await find(tx, job_id)
    if record is None:
        raise NotFound(f"job {job_id} not found")
    return record


async def get(db: Database, job_id: str) -> JobRecord | None:
    """The job as committed (outside a transaction)."""
    row = await db.fetchone("SELECT * FROM generated_videos WHERE id = ?", (job_id,))
    return record_from(row, await _pause_of(db, row)) if row else None


async def request_of(db: Database, job_id: str) -> GenerationRequest | None:
    """The job's brief, outside any transaction: it never changes once the job exists."""
    row = await db.fetchone("SELECT request_json FROM generated_videos WHERE id = ?", (job_id,))
    return None if row is None else GenerationRequest.model_validate_json(row["request_json"])


async def _pause_of(reader: Reader, row: sqlite3.Row) -> sqlite3.Row | None:
    if row["status"] != JobStatus.paused:
        return None
    return await reader.fetchone(_PAUSE_SQL + " WHERE job_id = ?", (row["id"],))


async def _pauses_of(db: Database, rows: Iterable[sqlite3.Row]) -> Mapping[str, sqlite3.Row]:
    """The `paused_jobs` rows of the paused ones among `rows` (one query, only if any)."""
    paused = [row["id"] for row in rows if row["status"] == JobStatus.paused]
    if not paused:
        return {}
    marks = ", ".join("?" for _ in paused)
    found = await db.fetchall(f"{_PAUSE_SQL} WHERE job_id IN ({marks})", paused)
    return {row["job_id"]: row for row in found}


_PAUSE_SQL = "SELECT job_id, pause, held_request FROM paused_jobs"


async def page(
    db: Database,
    filters: Iterable[tuple[str, Any]],
    limit: int,
    after: tuple[str, str] | None,
) -> tuple[list[str], tuple[str, str] | None]:
    """The ids of up to `limit` jobs, newest first, matching every `(column, value)` of
    `filters` whose value is not None (the columns are the caller's constants), after the
    `(created_at, id)` key `after`; and the key of the last one when more follow. Ids only
    (read from the index): the caller has most jobs' JSON already (`jobs` for the rest)."""
    where, params = [], []
    for column, value in filters:
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if after:
        created_at, job_id = after
        # A range first, so the index seeks to the cursor (with the OR alone SQLite reads
        # every newer entry before it).
        where.append("created_at <= ? AND (created_at < ? OR id < ?)")
        params += [created_at, created_at, job_id]
    sql = "SELECT id, created_at FROM generated_videos"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
    rows = await db.fetchall(sql, [*params, limit + 1])
    last = rows[limit - 1] if len(rows) > limit else None
    ids = [row["id"] for row in rows[:limit]]
    return ids, None if last is None else (last["created_at"], last["id"])


@dataclass(frozen=True)
class OwnedJob:
    job: Job
    client_id: str


async def jobs(db: Database, ids: Sequence[str]) -> dict[str, OwnedJob]:
    """The jobs with these ids (one query), by id; an id with no job is left out."""
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = await db.fetchall(f"SELECT * FROM generated_videos WHERE id IN ({marks})", ids)
    pauses = await _pauses_of(db, rows)
    return {
        row["id"]: OwnedJob(job_from(row, pauses.get(row["id"])), row["client_id"]) for row in rows
    }


async def owner_of(db: Database, job_id: str) -> str | None:
    """The client a job belongs to, or None when there is no such job."""
    row = await db.fetchone("SELECT client_id FROM generated_videos WHERE id = ?", (job_id,))
    return None if row is None else str(row["client_id"])


async def count_running(db: Database, client_id: str, except_job: str | None) -> int:
    """How many of the client's jobs wait for or use a worker (not counting `except_job`)."""
    running = [status.value for status in RUNNING]
    marks = ", ".join("?" for _ in running)
    row = await db.fetchone(
        f"SELECT count(*) AS n FROM generated_videos WHERE client_id = ?"
        f" AND status IN ({marks}) AND id != ?",
        [client_id, *running, except_job or ""],
    )
    return int(row["n"]) if row else 0


async def unfinished_using(db: Database, client_id: str, asset_id: str) -> list[str]:
    """Unfinished jobs of `client_id` whose request names `asset_id` (at most 20)."""
    final = [s.value for s in JobStatus if s.is_final]
    marks = ", ".join("?" for _ in final)
    rows = await db.fetchall(
        f"SELECT id FROM generated_videos WHERE client_id = ? AND status NOT IN ({marks})"
        " AND instr(request_json, ?) > 0 ORDER BY created_at LIMIT 20",
        [client_id, *final, f'"{asset_id}"'],
    )
    return [row["id"] for row in rows]


async def stuck_jobs(db: Database, cutoff: str, limit: int) -> list[str]:
    """Jobs whose running stage, or an export of the completed job, has not moved since
    `cutoff`. Each branch reads an index (`status`, the `stage_requests` key), so a sweep
    costs what is stuck, not the table."""
    running = list(RUNNING)
    marks = ", ".join("?" for _ in running)
    rows = await db.fetchall(
        f"SELECT id FROM generated_videos WHERE status IN ({marks}) AND updated_at < ?"
        " UNION SELECT s.job_id FROM stage_requests AS s"
        " JOIN generated_videos AS g ON g.id = s.job_id"
        " WHERE g.status = ? AND s.stage LIKE 'export:%' AND s.finished_at IS NULL"
        " AND s.requested_at < ? AND g.updated_at < ? LIMIT ?",
        [*running, cutoff, JobStatus.completed, cutoff, cutoff, limit],
    )
    return [row["id"] for row in rows]


async def paused_jobs(db: Database, limit: int) -> list[str]:
    """Paused jobs, the longest paused first: `paused_jobs` read in the order of its
    `paused_at` index (CROSS JOIN keeps it the outer loop, so nothing is sorted)."""
    rows = await db.fetchall(
        "SELECT p.job_id FROM paused_jobs AS p CROSS JOIN generated_videos AS g"
        " ON g.id = p.job_id WHERE g.status = ? ORDER BY p.paused_at, p.job_id LIMIT ?",
        (JobStatus.paused, limit),
    )
    return [row["job_id"] for row in rows]


# --------------------------------------------------------------------------- writing


async def insert(
    tx: Transaction,
    job_id: str,
    client_id: str,
    request: GenerationRequest,
    progress: Progress,
    estimated_cost: float,
    cost_items: list[CostItem],
) -> JobRecord:
    """A new job, in the lifecycle's first status, as its row reads back (the columns'
    defaults included) in the same statement."""
    row = await tx.fetchone(
        "INSERT INTO generated_videos (id, campaign_id, client_id, status, prompt,"
        " request_json, progress, estimated_cost, cost_items, updated_at)"
        f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {NOW_SQL}) RETURNING *",
        (
            job_id,
            request.campaign_id,
            client_id,
            INITIAL,
            request.prompt,
            request.model_dump_json(),
            progress.model_dump_json(),
            estimated_cost,
            cost_items_json(cost_items),
        ),
    )
    if row is None:
        raise RuntimeError(f"job {job_id} was written but not returned")
    return JobRecord(job_from(row), client_id, request, attempt=row["attempt"])


async def move(
    tx: Transaction,
    record: JobRecord,
    status: JobStatus,
    progress: Progress | None = None,
    **columns: Any,
) -> datetime | None:
    """Change the job's status from the one `record` was loaded with (in this transaction),
    with the columns that go with the change; TransitionRefused if the lifecycle does not
    allow the move. A job leaving `paused` forgets its pause and held stage. Returns the
    new `updated_at` (None when there is no such row)."""
    check_transition(record.job.status, status)
    if progress is not None:
        columns["progress"] = progress.model_dump_json()
    updated_at = await _update(tx, record.job.id, status=status, **columns)
    if record.job.status == JobStatus.paused and status != JobStatus.paused:
        await tx.execute("DELETE FROM paused_jobs WHERE job_id = ?", (record.job.id,))
    return updated_at


def rewritten(record: JobRecord, updated_at: datetime, **changes: Any) -> JobRecord:
    """`record` as a write of `changes` (typed `Job` fields, as `record_from` would read
    them back) left it, with the fields derived from them recomputed: what a fresh
    `load` returns, without reading and parsing the row again. A storyboard's frame
    URLs are the caller's to set (`with_frame_urls`)."""
    job = record.job.model_copy(update={**changes, "updated_at": updated_at})
    held = record.held
    if job.status != JobStatus.paused:
        job.paused, held = None, None
    job.retryable = can_retry(job.status, job.failed_stage, job.storyboard)
    job.poll_after_ms = poll_after_ms(job.status, job.progress.percent)
    job.checks_status = checks_status(job)
    return replace(record, job=job, held=held)


def with_frame_urls(job_id: str, storyboard: Storyboard) -> Storyboard:
    """A copy of `storyboard` whose scenes link to the frames the API serves."""
    copy = storyboard.model_copy(deep=True)
    for scene in copy.scenes:
        scene.image_url = frame_url(job_id, scene)
    return copy


async def pause(
    tx: Transaction,
    record: JobRecord,
    progress: Progress,
    paused: Pause,
    held: StageStart,
    **columns: Any,
) -> None:
    """Move the job to `paused` (as the lifecycle allows) with `columns`, keeping why
    (`paused`) and the start of the stage it holds until it resumes (`move` out of it)."""
    check_transition(record.job.status, JobStatus.paused)
    await _update(
        tx, record.job.id, status=JobStatus.paused, progress=progress.model_dump_json(), **columns
    )
    await tx.execute(
        "INSERT INTO paused_jobs (job_id, paused_at, pause, held_request) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (job_id) DO UPDATE SET paused_at = excluded.paused_at,"
        " pause = excluded.pause, held_request = excluded.held_request",
        (
            record.job.id,
            paused.since.astimezone(UTC).isoformat(timespec="microseconds"),
            paused.model_dump_json(),
            held.to_json(),
        ),
    )


async def approve(tx: Transaction, record: JobRecord, progress: Progress) -> None:
    """Mark the job approved now (`approved_at` is the database's clock)."""
    check_transition(record.job.status, JobStatus.approved)
    await tx.execute(
        f"UPDATE generated_videos SET status = ?, approved = 1, approved_at = {NOW_SQL},"
        f" progress = ?, updated_at = {NOW_SQL} WHERE id = ?",
        (JobStatus.approved, progress.model_dump_json(), record.job.id),
    )


async def write(tx: Transaction, job_id: str, **columns: Any) -> None:
    """Write columns other than the status (a status changes only through `move`)."""
    if "status" in columns:
        raise TypeError("a job's status changes through store.move, which checks the move")
    await _update(tx, job_id, **columns)


async def set_progress(tx: Transaction, job_id: str, progress: Progress) -> None:
    await _update(tx, job_id, progress=progress.model_dump_json())


async def _update(tx: Transaction, job_id: str, **columns: Any) -> datetime | None:
    assignments = ", ".join(f"{name} = ?" for name in columns)
    row = await tx.fetchone(
        f"UPDATE generated_videos SET {assignments}, updated_at = {NOW_SQL} WHERE id = ?"
        " RETURNING updated_at",
        (*columns.values(), job_id),
    )
    return None if row is None else datetime.fromisoformat(row["updated_at"])


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


def event_for(record: JobRecord, payload: Payload) -> Event[Any]:
    return payload.envelope(
        job_id=record.job.id, client_id=record.client_id, attempt=record.attempt
    )


async def enqueue(tx: Transaction, event: Event[Any]) -> None:
    """Queue `event` in the outbox, committed together with the caller's change."""
    headers = Bus.event_headers(event)
    await tx.execute(
        "INSERT INTO outbox (id, subject, headers, payload) VALUES (?, ?, ?, ?)",
        (event.id, event.subject, orjson.dumps(headers), event.model_dump_json().encode()),
    )
    # A stage's request is kept until the stage is over: the reaper may send it again.
    await stage_requests.remember(tx, event)


def outputs_json(outputs: list[VideoOutput]) -> str:
    # URLs are stored too, but replaced by the API's own on every read (record_from).
    return OUTPUTS.dump_json(outputs).decode()


def cost_items_json(items: list[CostItem]) -> str:
    return COST_ITEMS.dump_json(items).decode()
