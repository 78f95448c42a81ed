"""The outbox relay against a real nats-server and SQLite file: it marks rows sent beside
its next publish, so a pass that runs while the mark waits for the write lock does not
send them again, and a mark that fails only means the same ids go out again, which
JetStream's de-duplication drops (one message each in the stream)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest_asyncio

from services.gateway.jobs.outbox import OutboxRelay
from shared.bus import MSG_ID, Bus
from shared.db import Database
from tests.support.gateway_db import migrated_app_db
from tests.support.nats_server import NatsServer


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_app_db(tmp_path) as database:
        yield database


@pytest_asyncio.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    """A connection to the run's nats-server, streams declared."""
    connected = await Bus.connect(nats_server.url, service="outbox-test")
    await connected.ensure_streams()
    yield connected
    await connected.close()


async def queue_rows(db: Database, subject: str, count: int) -> list[str]:
    """`count` outbox rows on `subject` (nothing consumes it; the JOBS stream keeps it)."""
    ids = [f"evt-{uuid.uuid4().hex}" for _ in range(count)]
    async with db.transaction() as tx:
        for event_id in ids:
            await tx.execute(
                "INSERT INTO outbox (id, subject, headers, payload) VALUES (?, ?, ?, ?)",
                (event_id, subject, orjson.dumps({MSG_ID: event_id}), b"{}"),
            )
    return ids


async def in_stream(bus: Bus, subject: str) -> int:
    info = await bus.js.stream_info("JOBS", subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


async def test_rows_in_flight_are_not_sent_twice(db: Database, bus: Bus) -> None:
    relay = OutboxRelay(db, bus)
    subject = f"jobs.test.relay.{uuid.uuid4().hex}"
    await queue_rows(db, subject, 3)

    # The write lock is busy (a request's transaction): the relay publishes anyway, and a
    # second pass, while the first one's mark waits, sends nothing.
    async with db.transaction():
        assert await relay.relay_once() == 3
        assert await relay.relay_once() == 0
        assert await in_stream(bus, subject) == 3

    # The lock is free: the mark commits and nothing is left to send.
    await relay.settled()
    assert await relay.pending() == 0
    assert await relay.relay_once() == 0
    assert await in_stream(bus, subject) == 3


async def test_a_failed_mark_resends_ids_the_stream_drops(db: Database, bus: Bus) -> None:
    relay = OutboxRelay(db, bus)
    subject = f"jobs.test.relay.{uuid.uuid4().hex}"
    await queue_rows(db, subject, 2)
    # Marking fails (a trigger stands in for a failing write).
    await db.conn.execute(
        "CREATE TRIGGER refuse_mark BEFORE UPDATE ON outbox"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )

    # The rows go out, the mark fails, so they are still pending and go out again.
    assert await relay.relay_once() == 2
    await relay.settled()
    assert await relay.pending() == 2
    assert await relay.relay_once() == 2
    await relay.settled()

    # JetStream kept one message per id; once marking works, the rows are done.
    assert await in_stream(bus, subject) == 2
    await db.conn.execute("DROP TRIGGER refuse_mark")
    assert await relay.relay_once() == 2
    await relay.settled()
    assert await relay.pending() == 0
    assert await in_stream(bus, subject) == 2
