"""The `stage_requests` table: the latest request that started each stage of a job, kept
so the stuck-job reaper can send it again and a retry can restart a failed stage.

A stage is a `lifecycle.Stage`: `storyboard`, `refine`, `render`, or `export:<export_id>`
(exports of one job run side by side, so each is its own stage). The row is written by
`store.enqueue` in the transaction that queues the request, so it can never disagree with
what was sent.

`StageStart` is a job-level stage's request with the progress its start writes: what a
command sends, or, while the job is paused for the budget, what it keeps in `paused_jobs`
(no row here: nothing was sent) until the stage starts.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from services.gateway.jobs.lifecycle import Stage, export_stage, is_export, kind_of
from shared.db import NOW_SQL, Transaction
from shared.events import (
    PAYLOADS,
    Event,
    ExportRequested,
    Payload,
    RenderRequested,
    SceneRefineRequested,
    StoryboardRequested,
)
from shared.models import Progress


@dataclass(frozen=True)
class StageRequest:
    job_id: str
    stage: str  # a Stage, or an export's `export:<export_id>`
    subject: str
    data: str
    retries: int

    def payload(self) -> Payload:
        return PAYLOADS[self.subject].model_validate_json(self.data)

    @property
    def is_export(self) -> bool:
        return is_export(self.stage)

    @property
    def kind(self) -> Stage:
        return kind_of(self.stage)


@dataclass(frozen=True)
class StageStart:
    """The request that starts a job-level stage (storyboard, refine, render) and the
    progress its start writes; kept on a paused job until billing takes the stage."""

    payload: Payload
    progress: Progress

    @property
    def stage(self) -> Stage:
        stage = stage_of(self.payload)
        if stage is None or is_export(stage):
            raise ValueError(f"{self.payload.subject} does not start a job-level stage")
        return Stage(stage)

    def to_json(self) -> str:
        return orjson.dumps(
            {
                "subject": self.payload.subject,
                "data": self.payload.model_dump(mode="json"),
                "progress": self.progress.model_dump(mode="json"),
            }
        ).decode()

    @classmethod
    def from_json(cls, text: str) -> StageStart:
        stored = orjson.loads(text)
        payload = PAYLOADS[stored["subject"]].model_validate(stored["data"])
        return cls(payload=payload, progress=Progress.model_validate(stored["progress"]))


def stage_of(payload: Payload) -> str | None:
    """The stage a request starts, or None for an event that starts none."""
    match payload:
        case StoryboardRequested():
            return Stage.storyboard
        case SceneRefineRequested():
            return Stage.refine
        case RenderRequested():
            return Stage.render
        case ExportRequested(export_id=export_id):
            return export_stage(export_id)
    return None


async def remember(tx: Transaction, event: Event[Any]) -> None:
    """Record `event` as its stage's latest request (a new request resets the retries)."""
    stage = stage_of(event.data)
    if stage is None:
        return
    await tx.execute(
        "INSERT INTO stage_requests (job_id, stage, subject, data, retries, requested_at)"
        f" VALUES (?, ?, ?, ?, 0, {NOW_SQL})"
        " ON CONFLICT (job_id, stage) DO UPDATE SET subject = excluded.subject,"
        " data = excluded.data, retries = 0, requested_at = excluded.requested_at,"
        " finished_at = NULL",
        (event.job_id, stage, event.subject, event.data.model_dump_json()),
    )


async def set_retries(tx: Transaction, job_id: str, stage: str, retries: int) -> None:
    await tx.execute(
        "UPDATE stage_requests SET retries = ? WHERE job_id = ? AND stage = ?",
        (retries, job_id, stage),
    )


async def finish(tx: Transaction, job_id: str, stage: str) -> None:
    """Mark an export's request done (other stages end with the job's status)."""
    await tx.execute(
        f"UPDATE stage_requests SET finished_at = {NOW_SQL}"
        " WHERE job_id = ? AND stage = ? AND finished_at IS NULL",
        (job_id, stage),
    )


async def load_request(tx: Transaction, job_id: str, stage: str) -> StageRequest | None:
    row = await tx.fetchone(f"{_SELECT} WHERE job_id = ? AND stage = ?", (job_id, stage))
    return None if row is None else _request_from(row)


async def open_exports(tx: Transaction, job_id: str, cutoff: str) -> list[StageRequest]:
    """The job's exports still running that were requested before `cutoff`."""
    cursor = await tx.execute(
        f"{_SELECT} WHERE job_id = ? AND stage LIKE 'export:%' AND finished_at IS NULL"
        " AND requested_at < ?",
        (job_id, cutoff),
    )
    return [_request_from(row) for row in await cursor.fetchall()]


async def claim_export(tx: Transaction, export: StageRequest, cutoff: str) -> bool:
    """Take a stuck export for this sweep (its request time moves to now) if it is still
    unanswered and was requested before `cutoff`; False when another replica took it."""
    cursor = await tx.execute(
        f"UPDATE stage_requests SET requested_at = {NOW_SQL} WHERE job_id = ?"
        " AND stage = ? AND finished_at IS NULL AND requested_at < ?",
        (export.job_id, export.stage, cutoff),
    )
    return cursor.rowcount == 1


_SELECT = "SELECT job_id, stage, subject, data, retries FROM stage_requests"


def _request_from(row: sqlite3.Row) -> StageRequest:
    return StageRequest(
        job_id=row["job_id"],
        stage=row["stage"],
        subject=row["subject"],
        data=row["data"],
        retries=row["retries"],
    )
