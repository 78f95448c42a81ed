"""Group commit (`shared.db.GroupCommit`) and the gateway's projection on top of it, against
a real SQLite file: concurrent events share a transaction, a failing one rolls back alone
(the others commit and its event can be applied again), and the records the projection
builds without reading the row back are the ones a fresh read returns."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from services.gateway.jobs.commands import JobStore
from services.gateway.jobs.projection import Projection
from services.gateway.jobs.store import JobRecord
from shared.db import Database, GroupCommit, Transaction
from shared.events import StoryboardCompleted, StoryboardProgressed
from shared.models import GenerationRequest, JobStatus, Platform, Progress
from tests.support.gateway_db import a_storyboard, migrated_app_db

CLIENT = "client-a"
REQUEST = GenerationRequest(
    campaign_id="spring",
    prompt="Glow Serum. Brightens skin in 7 days.",
    platform=Platform.tiktok,
    duration_s=10,
    webhook_url="https://example.com/hook",
)


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_app_db(tmp_path) as database:
        yield database


def completed(record: JobRecord) -> StoryboardCompleted:
    return StoryboardCompleted(storyboard=a_storyboard())


async def test_concurrent_works_share_one_transaction(db: Database) -> None:
    # Twenty writers arrive at once.
    group = GroupCommit(db)
    await db.conn.execute("CREATE TABLE marks (n INTEGER PRIMARY KEY)")

    async def mark(tx: Transaction, n: int) -> int:
        await tx.execute("INSERT INTO marks (n) VALUES (?)", (n,))
        return n

    results = await asyncio.gather(*(group.run(lambda tx, n=n: mark(tx, n)) for n in range(20)))

    # Each got its own result, all rows are committed, in fewer transactions than writers.
    assert results == list(range(20))
    rows = await db.fetchall("SELECT n FROM marks ORDER BY n")
    assert [row["n"] for row in rows] == list(range(20))
    assert 1 <= group.groups < 20


async def test_a_failing_work_fails_alone(db: Database) -> None:
    group = GroupCommit(db)
    await db.conn.execute("CREATE TABLE marks (n INTEGER PRIMARY KEY)")

    async def mark(tx: Transaction, n: int) -> int:
        await tx.execute("INSERT INTO marks (n) VALUES (?)", (n,))
        if n == 3:
            raise RuntimeError("bad event")
        return n

    # Six writers in one group, the fourth raises after writing.
    outcomes = await asyncio.gather(
        *(group.run(lambda tx, n=n: mark(tx, n)) for n in range(6)), return_exceptions=True
    )

    # Only it fails; its write is rolled back, the others' are committed.
    assert [isinstance(o, RuntimeError) for o in outcomes] == [False] * 3 + [True] + [False] * 2
    rows = await db.fetchall("SELECT n FROM marks ORDER BY n")
    assert [row["n"] for row in rows] == [0, 1, 2, 4, 5]
    # The connection is out of any transaction: a plain one still works.
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO marks (n) VALUES (9)")


async def test_a_batch_with_one_bad_event_projects_the_others(db: Database) -> None:
    jobs, projection = JobStore(db), Projection(db)
    records = [await jobs.create(f"job{n}", CLIENT, REQUEST) for n in range(5)]
    # The row of job3 cannot be written (a trigger stands in for a failing statement).
    await db.conn.execute(
        "CREATE TRIGGER refuse BEFORE UPDATE ON generated_videos WHEN NEW.id = 'job3'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    events = [
        completed(r).envelope(job_id=r.job.id, client_id=CLIENT, attempt=r.attempt) for r in records
    ]

    # All five storyboards arrive at once.
    outcomes = await asyncio.gather(
        *(projection.storyboard_completed(e) for e in events), return_exceptions=True
    )

    # Four are projected; job3's event raises (its message would be nak'ed) and left no trace.
    assert isinstance(outcomes[3], sqlite3.IntegrityError)
    for n, outcome in enumerate(outcomes):
        status = (await jobs.get(f"job{n}")).job.status  # type: ignore[union-attr]
        assert status == (JobStatus.queued if n == 3 else JobStatus.storyboard_ready)
        if n != 3:
            assert isinstance(outcome, JobRecord)
    claimed = await db.fetchone(
        "SELECT count(*) AS n FROM processed_events WHERE event_id = ?", (events[3].id,)
    )
    assert claimed is not None and claimed["n"] == 0

    # Its redelivery, once the fault is gone, projects it.
    await db.conn.execute("DROP TRIGGER refuse")
    again = await projection.storyboard_completed(events[3])
    assert again is not None and again.job.status == JobStatus.storyboard_ready


async def same_as_read(jobs: JobStore, projected: JobRecord | None) -> JobRecord:
    """`projected` (built without reading the row back) equals the row read afresh."""
    fresh = await jobs.get("job1")
    assert projected is not None and fresh is not None
    assert projected.job.model_dump_json() == fresh.job.model_dump_json()
    assert (projected.client_id, projected.attempt, projected.held) == (
        fresh.client_id,
        fresh.attempt,
        fresh.held,
    )
    return projected


@pytest.mark.parametrize("refine", [False, True])
async def test_projected_records_are_what_a_read_returns(db: Database, refine: bool) -> None:
    jobs, projection = JobStore(db), Projection(db)
    record = await jobs.create("job1", CLIENT, REQUEST)

    def envelope(payload: StoryboardProgressed | StoryboardCompleted, at: JobRecord) -> Any:
        return payload.envelope(job_id="job1", client_id=CLIENT, attempt=at.attempt)

    # Progress, then the storyboard: each record as a fresh read has it.
    moving = Progress(stage="storyboarding", percent=40, message="scene 1 drawn")
    progressed = envelope(StoryboardProgressed(progress=moving), record)
    await same_as_read(jobs, await projection.storyboard_progressed(progressed))
    made = envelope(completed(record), record)
    ready = await same_as_read(jobs, await projection.storyboard_completed(made))
    assert ready.job.checks_status is not None and ready.job.storyboard is not None
    assert all(scene.image_url for scene in ready.job.storyboard.scenes)
    # Its webhook is queued with it, as with a record read back.
    hooks = await db.fetchall("SELECT type FROM webhook_deliveries WHERE job_id = 'job1'")
    assert [row["type"] for row in hooks] == ["storyboard_ready"]
    if not refine:
        return

    # A refinement: its progress and its storyboard too.
    refining = await jobs.request_refine("job1", 2, "warmer")
    half = Progress(stage="refining", percent=50, message="redrawing scene 2")
    progressed = envelope(StoryboardProgressed(progress=half), refining)
    moved = await same_as_read(jobs, await projection.storyboard_progressed(progressed))
    assert moved.job.status == JobStatus.refining
    done = envelope(StoryboardCompleted(storyboard=a_storyboard(), refined_scene=2), refining)
    refined = await same_as_read(jobs, await projection.storyboard_completed(done))
    assert refined.job.progress.message == "scene 2 refined"
