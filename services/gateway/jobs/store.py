"""The `generated_videos` row: reading it into the job model, writing columns, and
queueing events in the outbox within the caller's transaction."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import TypeAdapter

from services.gateway.http.errors import NotFound
from services.gateway.jobs import stage_requests
from services.gateway.jobs.lifecycle import poll_after_ms
from shared.bus import Bus
from shared.db import NOW_SQL, Transaction
from shared.events import Event, Payload
from shared.models import (
    CostItem,
    GenerationRequest,
    Job,
    JobStatus,
    Progress,
    Scene,
    Storyboard,
    VideoOutput,
)

OUTPUTS = TypeAdapter(list[VideoOutput])
COST_ITEMS = TypeAdapter(list[CostItem])


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


def video_url(job_id: str, output: VideoOutput) -> str:
    if output.kind == "export":
        return f"/api/v2/jobs/{job_id}/exports/{output.key.rsplit('/', 1)[-1]}"
    return f"/api/v2/jobs/{job_id}/video?variation={output.variation}"


def poster_url(job_id: str, output: VideoOutput) -> str:
    return f"/api/v2/jobs/{job_id}/poster.jpg?variation={output.variation}"


def record_from(row: sqlite3.Row) -> JobRecord:
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
    )
    request = GenerationRequest.model_validate_json(row["request_json"])
    return JobRecord(job=job, client_id=row["client_id"], request=request, attempt=row["attempt"])


async def load(tx: Transaction, job_id: str) -> JobRecord:
    row = await tx.fetchone("SELECT * FROM generated_videos WHERE id = ?", (job_id,))
    if row is None:
        raise NotFound(f"job {job_id} not found")
    return record_from(row)


async def write(tx: Transaction, job_id: str, **columns: Any) -> None:
    assignments = ", ".join(f"{name} = ?" for name in columns)
    await tx.execute(
        f"UPDATE generated_videos SET {assignments}, updated_at = {NOW_SQL} WHERE id = ?",
        (*columns.values(), job_id),
    )


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


def can_retry(status: JobStatus, failed_stage: str | None, storyboard: Storyboard | None) -> bool:
    """A failed job restarts from its failed stage; a render needs the storyboard it had."""
    if status != JobStatus.failed or failed_stage not in ("storyboard", "render"):
        return False
    return failed_stage == "storyboard" or storyboard is not None


def outputs_json(outputs: list[VideoOutput]) -> str:
    # URLs are stored too, but replaced by the API's own on every read (record_from).
    return OUTPUTS.dump_json(outputs).decode()


def cost_items_json(items: list[CostItem]) -> str:
    return COST_ITEMS.dump_json(items).decode()
