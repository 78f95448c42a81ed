"""The SQL the gateway runs to list jobs and in its background loops, captured from the real
code, and each statement's query plan: for `bench/scale.py` and
`tests/integration/test_query_plans.py`.

`capture(db)` runs each of these against a migrated `app.db` that holds a history
(`bench/_dataset.py`), recording every statement the code executes on the `Database`'s
connection with its parameters, tagged with the step that ran it:

- the job list (`JobStore.list`) as client `client-0000` and as an admin: no filter, each
  filter, both, and the next page through the cursor;
- the admission check (`store.count_running`) and the asset check (`store.unfinished_using`);
- the dead-letter consumer (`DeadLetters.fail`) failing a job whose storyboard was parked;
- the reaper's sweep (`Reaper.sweep`) with a timeout so short that every running job is
  stuck, so it also claims and re-sends them;
- the outbox relay (`OutboxRelay.relay_once`, `prune`), before anything is queued: it has no
  bus, so it must find nothing to publish;
- the webhook dispatcher's loop (`WebhookDispatcher.run`, one pass: the due deliveries, the
  prune, the next due time);
- the idempotency keys' prune (`IdempotencyStore.prune`).

It changes the database (the reaper and the dead letters fail or re-send jobs): run it on a
copy.

The plans are taken as the code prepares the statements, with `?` bound: written in as
literals, the values can change them (`LIMIT 2` as a literal makes SQLite sort the whole
table for the admin's list instead of reading the `created_at` index).

Example::

    statements = await capture(db)
    for statement in statements:
        print(statement.step, plan(conn, statement))
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import aiosqlite
import orjson

from services.gateway.http.idempotency import IdempotencyStore
from services.gateway.jobs import store
from services.gateway.jobs.commands import JobStore
from services.gateway.jobs.deadletters import DeadLetters
from services.gateway.jobs.outbox import OutboxRelay
from services.gateway.jobs.reaper import Reaper
from services.gateway.webhooks.dispatcher import WebhookDispatcher
from shared.bus import Bus
from shared.db import Database
from shared.events import DeadLettered
from shared.models import JobStatus
from shared.settings import Settings

CLIENT = "client-0000"
PAGE = 20
# Transaction control has no plan.
CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA)\b", re.IGNORECASE)
WEBHOOK_PASS_S = 30.0


@dataclass(frozen=True)
class Statement:
    step: str
    sql: str
    params: tuple[Any, ...]


@dataclass
class Recorder:
    """Every statement run on the connection, with its parameters, tagged with the step."""

    step: str = ""
    statements: list[Statement] = field(default_factory=list)
    _waiting: list[tuple[re.Pattern[str], asyncio.Event]] = field(default_factory=list)

    def record(self, sql: str, params: Iterable[Any] | None) -> None:
        if not self.step or CONTROL.match(sql):
            return
        self.statements.append(Statement(self.step, sql.strip(), tuple(params or ())))
        for pattern, event in self._waiting:
            if pattern.search(sql):
                event.set()

    @contextlib.contextmanager
    def aside(self) -> Iterator[None]:
        """The capture's own queries (finding a job to act on) are not recorded."""
        step, self.step = self.step, ""
        try:
            yield
        finally:
            self.step = step

    def seen(self, pattern: str) -> asyncio.Event:
        """An event set when a statement matching `pattern` runs."""
        event = asyncio.Event()
        self._waiting.append((re.compile(pattern), event))
        return event

    @contextlib.contextmanager
    def on(self, conn: aiosqlite.Connection) -> Iterator[None]:
        """Record what runs through `conn.execute` and `conn.execute_fetchall` (every query
        of `shared.db` does)."""
        execute, execute_fetchall = conn.execute, conn.execute_fetchall

        def recording(sql: str, parameters: Iterable[Any] | None = None) -> Any:
            self.record(sql, parameters)
            return execute(sql, parameters)

        def recording_fetchall(sql: str, parameters: Iterable[Any] | None = None) -> Any:
            self.record(sql, parameters)
            return execute_fetchall(sql, parameters)

        conn.execute = recording  # type: ignore[method-assign]
        conn.execute_fetchall = recording_fetchall  # type: ignore[method-assign]
        try:
            yield
        finally:
            del conn.execute  # the class's methods again
            del conn.execute_fetchall


def plan(conn: sqlite3.Connection, statement: Statement) -> list[str]:
    """The lines of `EXPLAIN QUERY PLAN`, as the sqlite3 shell prints them (unindented)."""
    rows = conn.execute("EXPLAIN QUERY PLAN " + statement.sql, statement.params)
    return [str(row[3]) for row in rows]


def full_scans(lines: list[str]) -> list[str]:
    """Plan lines that read a whole table in rowid order, with no index."""
    return [
        line
        for line in lines
        if line.startswith("SCAN ") and " USING " not in line and line != "SCAN CONSTANT ROW"
    ]


def full_sorts(lines: list[str]) -> list[str]:
    """Plan lines that sort every matching row before the first is returned (a sort of
    only the ties of an index's order, `RIGHT PART OF ORDER BY`, is not one)."""
    return [line for line in lines if line == "USE TEMP B-TREE FOR ORDER BY"]


async def capture(db: Database) -> list[Statement]:
    recorder = Recorder()
    with recorder.on(db.conn):
        for step, run in steps(db, recorder):
            recorder.step = step
            await run()
    return recorder.statements


def steps(db: Database, recorder: Recorder) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
    jobs = JobStore(db)

    async def pages(client: str | None, status: JobStatus | None) -> None:
        # A page's ids, then the jobs the poll cache would not have (here: all of them).
        ids, cursor = await jobs.list(client, status, None, PAGE, None)
        await jobs.jobs(ids)
        if cursor is None:
            raise RuntimeError(f"fewer than {PAGE + 1} jobs to page through")
        recorder.step += ", next page"
        ids, _ = await jobs.list(client, status, None, PAGE, cursor)
        await jobs.jobs(ids)

    async def campaign_of(client: str | None) -> str:
        ids, _ = await jobs.list(client, None, None, 1, None)
        return (await jobs.jobs(ids))[ids[0]].job.campaign_id

    async def with_campaign(client: str | None, status: JobStatus | None) -> None:
        campaign = await campaign_of(client)
        await jobs.list(client, status, campaign, PAGE, None)

    steps: list[tuple[str, Callable[[], Awaitable[object]]]] = []
    for who, client in (("client", CLIENT), ("admin", None)):
        steps += [
            (f"list: {who}", lambda c=client: pages(c, None)),
            (f"list: {who}, status", lambda c=client: pages(c, JobStatus.completed)),
            (f"list: {who}, campaign", lambda c=client: with_campaign(c, None)),
            (
                f"list: {who}, status + campaign",
                lambda c=client: with_campaign(c, JobStatus.failed),
            ),
        ]
    # The relay first: nothing is pending until the dead letters and the reaper queue events.
    relay = OutboxRelay(db, cast(Bus, None))
    steps += [
        ("admission: count_running", lambda: store.count_running(db, CLIENT, None)),
        ("assets: unfinished_using", lambda: store.unfinished_using(db, CLIENT, "asset-1")),
        ("outbox: relay", lambda: relay_once(db, relay, recorder)),
        ("outbox: prune", relay.prune),
        ("webhooks: dispatch", lambda: webhook_pass(db, recorder)),
        ("idempotency: prune", IdempotencyStore(db).prune),
        ("dead letters: fail", lambda: dead_letter(db, recorder)),
        ("reaper: sweep", Reaper(db, timeout_s=0.001, max_retries=2).sweep),
    ]
    return steps


async def dead_letter(db: Database, recorder: Recorder) -> None:
    """A storyboard request parked after its last delivery, for a job storyboarding now."""
    with recorder.aside():
        row = await db.fetchone(
            "SELECT id, attempt FROM generated_videos WHERE status = ? LIMIT 1",
            (JobStatus.storyboarding,),
        )
    if row is None:
        raise RuntimeError("no storyboarding job to dead-letter")
    message = {"job_id": row["id"], "attempt": row["attempt"]}
    parked = DeadLettered(
        service="storyboard",
        subject="jobs.storyboard.requested",
        reason="max deliveries reached",
        deliveries=5,
        data=orjson.dumps(message).decode(),
    )
    if await DeadLetters(db, lambda _: None).fail(row["id"], parked, message, "bench") is None:
        raise RuntimeError(f"the dead letter of {row['id']} changed nothing")


async def relay_once(db: Database, relay: OutboxRelay, recorder: Recorder) -> None:
    """One pass of the relay over an outbox with nothing to publish (it has no bus)."""
    with recorder.aside():
        row = await db.fetchone("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")
    if row is not None and row["n"]:
        raise RuntimeError("the outbox has rows to publish: capture needs a history without")
    if await relay.relay_once():
        raise RuntimeError("the relay published")


async def webhook_pass(db: Database, recorder: Recorder) -> None:
    """One pass of the dispatcher's loop: it ends with the query for the next due time."""
    stop = asyncio.Event()
    next_due = recorder.seen(r"SELECT MIN\(next_attempt_at\)")
    loop = asyncio.create_task(WebhookDispatcher(db, Settings()).run(stop))
    try:
        async with asyncio.timeout(WEBHOOK_PASS_S):
            await next_due.wait()
    finally:
        stop.set()
        await loop
