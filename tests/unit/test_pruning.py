"""The one prune throttle (`shared.pruning.PruneThrottle`), driven by an injected clock:
a prune runs at once, then at most once a period, and a failed one waits its period too."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from services.gateway.jobs.outbox import OutboxRelay
from shared.bus import Bus
from shared.db import Database
from shared.pruning import PruneThrottle
from shared.settings import Settings


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_first_prune_is_due_at_once_then_once_a_period() -> None:
    # A fresh throttle lets the first prune run, even right after the clock's origin.
    clock = Clock(now=5.0)
    throttle = PruneThrottle(600.0, clock=clock)
    assert throttle.until_due_s() == 0.0
    assert throttle.due()

    # Within the period nothing is due, and the wait left shrinks as time passes.
    assert not throttle.due()
    assert throttle.until_due_s() == 600.0
    clock.now = 604.9
    assert not throttle.due()
    assert throttle.until_due_s() == pytest.approx(0.1)

    # At the period's end the next prune is due, and the period starts again from there.
    clock.now = 605.0
    assert throttle.until_due_s() == 0.0
    assert throttle.due()
    clock.now = 1204.0
    assert not throttle.due()
    clock.now = 1205.0
    assert throttle.due()


async def test_maybe_runs_the_prune_only_when_due() -> None:
    # The loop ticks every second; the prune runs on the first tick and after 600 s.
    clock = Clock()
    throttle = PruneThrottle(600.0, clock=clock)
    runs: list[float] = []

    async def prune() -> None:
        runs.append(clock.now)

    for second in range(0, 1300):
        clock.now = float(second)
        await throttle.maybe(prune)
    assert runs == [0.0, 600.0, 1200.0]


async def test_a_failed_prune_is_not_retried_before_its_period() -> None:
    # A prune that raises hands its error to the caller and still counts as the period's.
    clock = Clock()
    throttle = PruneThrottle(600.0, clock=clock)

    async def failing() -> None:
        raise RuntimeError("database is locked")

    with pytest.raises(RuntimeError, match="locked"):
        await throttle.maybe(failing)
    clock.now = 599.0
    assert await throttle.maybe(failing) is False
    clock.now = 600.0
    with pytest.raises(RuntimeError):
        await throttle.maybe(failing)


async def test_the_outbox_relay_forgets_rows_published_a_day_ago_every_ten_minutes(
    tmp_path: Path,
) -> None:
    # A gateway database with rows published two days and one hour ago, and one not yet.
    db = await Database.open(tmp_path / "app.db")
    try:
        await db.migrate(Settings().gateway_migrations_path)
        await _outbox_row(db, "old", "-2 days")
        await _outbox_row(db, "recent", "-1 hours")
        await _outbox_row(db, "pending", None)
        relay = OutboxRelay(db, cast(Bus, None))  # pruning publishes nothing
        assert relay.prune_throttle.every_s == 600.0
        clock = Clock(now=100.0)
        relay.prune_throttle.clock = clock

        # The first prune runs at once and deletes only the row published over a day ago.
        assert await relay.prune()
        assert await _outbox_ids(db) == ["pending", "recent"]

        # Another stale row is left alone until ten minutes have passed.
        await _outbox_row(db, "stale", "-3 days")
        clock.now = 699.0
        assert not await relay.prune()
        assert await _outbox_ids(db) == ["pending", "recent", "stale"]
        clock.now = 700.0
        assert await relay.prune()
        assert await _outbox_ids(db) == ["pending", "recent"]
    finally:
        await db.close()


async def _outbox_row(db: Database, row_id: str, published_ago: str | None) -> None:
    # strftime of a NULL modifier is NULL: the row is not published yet.
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT INTO outbox (id, subject, headers, payload, published_at) VALUES"
            " (?, 'jobs.x', '{}', x'', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?))",
            (row_id, published_ago),
        )


async def _outbox_ids(db: Database) -> list[str]:
    return [row["id"] for row in await db.fetchall("SELECT id FROM outbox ORDER BY id")]
