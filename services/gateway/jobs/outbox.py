"""The outbox relay: publishes rows committed with a state change, marks them sent.

A crash between publish and mark re-publishes the same event id, which JetStream's
de-duplication window (or the consumer's processed-event ledger) absorbs.

Marking runs beside the next publish, not before it: the mark needs the write lock, which
requests and the projection queue for under load, and new jobs' rows must not wait for
it (woken by every commit that queued rows, the relay sends them within a SELECT and a
PubAck). Rows published and not yet marked are skipped by the next pass; a mark that fails
leaves its rows to be published again, which de-duplication absorbs.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson

from shared.backoff import Backoff
from shared.bus import Bus
from shared.db import NOW_SQL, Database
from shared.logging import get_logger
from shared.pruning import PruneThrottle

log = get_logger(__name__)

BATCH = 256
IDLE_WAIT_S = 1.0
# While NATS refuses publishes: 0.2 s, 0.4 s, ... up to 5 s between tries.
FAILURE_BACKOFF = Backoff(base_s=0.2, cap_s=5.0)
KEEP_PUBLISHED_S = 86_400
PRUNE_EVERY_S = 600.0
UNSENT = (
    "SELECT id, subject, headers, payload FROM outbox WHERE published_at IS NULL"
    " ORDER BY created_at, rowid LIMIT ?"
)
UNSENT_NOT_MARKING = (
    "SELECT id, subject, headers, payload FROM outbox WHERE published_at IS NULL"
    " AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY created_at, rowid LIMIT ?"
)


class OutboxRelay:
    def __init__(self, db: Database, bus: Bus) -> None:
        self.db = db
        self.bus = bus
        self._wake = asyncio.Event()
        self.published = 0
        self.prune_throttle = PruneThrottle(PRUNE_EVERY_S)
        # Published, their mark not yet committed.
        self._marking: set[str] = set()
        self._marks: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        self._wake.set()

    async def pending(self) -> int:
        row = await self.db.fetchone("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")
        return int(row["n"]) if row else 0

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self._relay(stop)
        finally:
            await self.settled()

    async def settled(self) -> None:
        """Wait for the marks under way."""
        if self._marks:
            await asyncio.wait(set(self._marks))

    async def _relay(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                sent = await self.relay_once()
                await self.prune()
                failures = 0
            except Exception as exc:
                failures += 1
                log.warning("outbox.publish_failed", extra={"error": repr(exc)})
                await _wait(stop, FAILURE_BACKOFF.delay_s(failures))
                continue
            if sent < BATCH:
                await _wait(self._wake, IDLE_WAIT_S)
                self._wake.clear()

    async def relay_once(self) -> int:
        """Publish up to `BATCH` unsent rows and start marking them; how many were sent."""
        if self._marking:
            # Left out by SQLite rather than read and dropped here: in a burst hundreds of
            # rows wait for their mark, and each pass would decode their payloads again.
            marking = orjson.dumps(list(self._marking)).decode()
            rows = await self.db.fetchall(UNSENT_NOT_MARKING, (marking, BATCH))
        else:
            rows = await self.db.fetchall(UNSENT, (BATCH,))
        if not rows:
            return 0
        await asyncio.gather(
            *(
                self.bus.publish_raw(row["subject"], row["payload"], orjson.loads(row["headers"]))
                for row in rows
            )
        )
        ids = [row["id"] for row in rows]
        self._marking.update(ids)
        mark = asyncio.create_task(self._mark(ids))
        self._marks.add(mark)
        mark.add_done_callback(self._marks.discard)
        self.published += len(ids)
        return len(ids)

    async def _mark(self, ids: list[str]) -> None:
        try:
            async with self.db.transaction() as tx:
                await tx.execute(
                    f"UPDATE outbox SET published_at = {NOW_SQL}"
                    f" WHERE id IN ({','.join('?' * len(ids))})",
                    ids,
                )
        except Exception as exc:
            log.warning("outbox.mark_failed", extra={"rows": len(ids), "error": repr(exc)})
        finally:
            self._marking.difference_update(ids)

    async def prune(self) -> bool:
        """Forget rows published more than `KEEP_PUBLISHED_S` ago, at most once every
        `PRUNE_EVERY_S`; whether it ran."""
        return await self.prune_throttle.maybe(self._delete_published)

    async def _delete_published(self) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at <"
                " strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
                (f"-{KEEP_PUBLISHED_S} seconds",),
            )


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout_s)
