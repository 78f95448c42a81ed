"""The job list and the background loops read indexes, so they cost the page or the work at
hand and not the size of the tables (issue #18; `bench/scale.py` times them at 1,000,000
jobs). The statements are the ones the real code runs (`bench/_queries.py` records them on
the gateway's own connection while it lists, sweeps, relays, dispatches and prunes), on a
database built through the migrations and holding a few thousand jobs
(`bench/_dataset.py`); their plans are taken with the parameters bound, as SQLite prepares
them. SQLite plans without statistics here (the gateway never runs ANALYZE), so these plans
are the ones a database of any size gets."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bench._dataset import build
from bench._queries import Statement, capture, full_scans, full_sorts, plan
from shared.db import Database

REPO = Path(__file__).resolve().parents[2]
SCALE_INDEXES = REPO / "migrations" / "gateway" / "010_scale_indexes.sql"
STEPS = {
    "list: client",
    "list: client, next page",
    "list: client, status",
    "list: client, status, next page",
    "list: client, campaign",
    "list: client, status + campaign",
    "list: admin",
    "list: admin, next page",
    "list: admin, status",
    "list: admin, status, next page",
    "list: admin, campaign",
    "list: admin, status + campaign",
    "admission: count_running",
    "assets: unfinished_using",
    "outbox: relay",
    "outbox: prune",
    "webhooks: dispatch",
    "idempotency: prune",
    "dead letters: fail",
    "reaper: sweep",
}


@pytest_asyncio.fixture(scope="module")
async def planned(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[Plan]]:
    """Every statement of the list and the loops, with its plan, on a 3,000-job history."""
    path = tmp_path_factory.mktemp("plans") / "app.db"
    await build(path, rows=3000, clients=10, live=40)
    db = await Database.open(path)
    try:
        statements = await capture(db)
    finally:
        await db.close()
    with sqlite3.connect(path) as conn:
        yield [Plan(statement, plan(conn, statement)) for statement in statements]


class Plan:
    def __init__(self, statement: Statement, lines: list[str]) -> None:
        self.statement = statement
        self.lines = lines

    @property
    def step(self) -> str:
        return self.statement.step

    def __repr__(self) -> str:
        return f"{self.step}: {self.statement.sql}\n  {self.lines}"


async def test_every_step_ran_the_real_code(planned: list[Plan]) -> None:
    # Each list query and each loop ran and was recorded, so none is checked by omission.
    assert {p.step for p in planned} == STEPS
    # The reaper found the running jobs stuck and re-sent them (claims, outbox rows) ...
    reaped = [p.statement.sql for p in planned if p.step == "reaper: sweep"]
    assert any(sql.startswith("INSERT INTO outbox") for sql in reaped)
    # ... and the dead letter failed its job.
    failed = [p.statement.sql for p in planned if p.step == "dead letters: fail"]
    assert any(sql.startswith("UPDATE generated_videos SET status") for sql in failed)


async def test_no_statement_reads_a_whole_table(planned: list[Plan]) -> None:
    scans = [p for p in planned if full_scans(p.lines)]
    assert scans == []


async def test_the_loops_and_the_admission_check_find_their_rows_through_an_index(
    planned: list[Plan],
) -> None:
    # Each SELECT, UPDATE and DELETE of the loops searches an index: its cost is the rows
    # it acts on (stuck jobs, due deliveries, rows to prune), not the table behind them.
    loops = [
        p
        for p in planned
        if not p.step.startswith("list:")
        and p.statement.sql.split()[0] in ("SELECT", "UPDATE", "DELETE")
        and p.lines != ["SCAN CONSTANT ROW"]
    ]
    assert loops
    for p in loops:
        assert any(" USING " in line for line in p.lines), p
        assert not full_sorts(p.lines), p
    # The reaper's unanswered exports start at the open stage requests, not at every
    # completed job (that sweep took 7 s at 1,000,000 jobs).
    (sweep,) = [p for p in planned if p.step == "reaper: sweep" and " UNION " in p.statement.sql]
    assert "SEARCH s USING INDEX idx_stage_requests_open (finished_at=? AND requested_at<?)" in (
        sweep.lines
    )
    # The admission check counts the client's running jobs, not the client's history.
    (running,) = [p for p in planned if p.step == "admission: count_running"]
    assert running.lines == [
        "SEARCH generated_videos USING INDEX idx_videos_client_status_created"
        " (client_id=? AND status=?)"
    ]


async def test_a_page_costs_the_page(planned: list[Plan]) -> None:
    lists = [p for p in planned if p.step.startswith("list:")]
    for p in lists:
        # Read in the order of an index, whoever asks with whichever filter; at most the
        # ties of created_at are sorted ...
        assert any(" USING INDEX " in line for line in p.lines), p
        assert not full_sorts(p.lines), p
    # ... and the next page seeks to the cursor instead of reading every newer job first.
    for p in lists:
        if p.step.endswith("next page") and p.statement.sql.startswith("SELECT id, created_at"):
            assert "created_at<?" in p.lines[0], p
    # The page's ids come from the index alone; the jobs not cached are then read by id.
    ids = [p for p in lists if p.statement.sql.startswith("SELECT id, created_at")]
    by_id = [p for p in lists if " WHERE id IN (" in p.statement.sql]
    assert len(ids) == 16 and len(ids) + len(by_id) == len(lists)
    assert sum(p.step.endswith("next page") for p in ids) == 4
    for p in by_id:
        assert p.lines == [
            "SEARCH generated_videos USING INDEX sqlite_autoindex_generated_videos_1 (id=?)"
        ], p


async def test_the_checks_in_010_show_the_plans_sqlite_makes(tmp_path: Path) -> None:
    # The verification queries an operator pastes from 010's comments, on a fresh database.
    lines = [line.removeprefix("--").strip() for line in SCALE_INDEXES.read_text().splitlines()]
    checks = [
        (query, lines[at + 1])
        for at, query in enumerate(lines)
        if query.startswith("EXPLAIN QUERY PLAN ")
    ]
    assert len(checks) == 4
    path = tmp_path / "app.db"
    db = await Database.open(path)
    await db.migrate(SCALE_INDEXES.parent)
    await db.close()
    with sqlite3.connect(path) as conn:
        for query, shown in checks:
            assert [row[3] for row in conn.execute(query.removesuffix(";"))] == [shown], query
