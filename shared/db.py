"""SQLite access for the services that own a database: open it, migrate it, and
run transactions that record which events they already processed.

Example::

    db = await Database.open(settings.database_path)
    await db.migrate(settings.billing_migrations_path)     # migrations/billing/*.sql
    async with db.transaction() as tx:
        if await tx.claim_event("billing", event.id):   # False on a redelivery
            await tx.execute("UPDATE job_costs SET total_usd = ? WHERE job_id = ?", (t, j))
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiosqlite

from shared.logging import get_logger

log = get_logger(__name__)

NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%fZ','now')"
_ADD_COLUMN = re.compile(
    r"^\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+(?:COLUMN\s+)?(\w+)", re.IGNORECASE | re.DOTALL
)


class MigrationError(RuntimeError):
    pass


def split_statements(sql: str) -> Iterator[str]:
    """Split a script into complete statements (trigger bodies stay whole)."""
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            pending = ""
            if statement.strip(";").strip() and not _only_comments(statement):
                yield statement
    if pending.strip() and not _only_comments(pending):
        raise MigrationError(f"incomplete SQL statement: {pending.strip()[:80]}")


def _only_comments(text: str) -> bool:
    return all(not ln.strip() or ln.strip().startswith("--") for ln in text.splitlines())


class Transaction:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Cursor:
        return await self.conn.execute(sql, tuple(params))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        return _first(await self.conn.execute_fetchall(sql, tuple(params)))

    async def claim_event(self, consumer: str, event_id: str) -> bool:
        """Record that `consumer` processed `event_id`; False if it already had."""
        cur = await self.conn.execute(
            "INSERT OR IGNORE INTO processed_events(consumer, event_id) VALUES (?, ?)",
            (consumer, event_id),
        )
        return cur.rowcount == 1


class Database:
    """One aiosqlite connection in WAL mode; writes are serialised by a lock because
    SQLite has one writer and a transaction must not interleave with another task's."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        return cls(conn, path)

    async def close(self) -> None:
        await self.conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._write_lock, self._begun() as tx:
            yield tx

    @contextlib.asynccontextmanager
    async def _begun(self) -> AsyncIterator[Transaction]:
        """A transaction; the caller holds the write lock."""
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(self.conn)
            await self.conn.execute("COMMIT")
        except BaseException:
            # Also after a failed COMMIT: the connection must not stay inside it.
            with contextlib.suppress(sqlite3.Error, ValueError):
                await self.conn.execute("ROLLBACK")
            raise

    # `execute_fetchall` runs the statement and reads its rows in one trip to aiosqlite's
    # thread; execute, fetch and close of a cursor are three.
    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        return _first(await self.conn.execute_fetchall(sql, tuple(params)))

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return list(await self.conn.execute_fetchall(sql, tuple(params)))

    async def ping(self) -> bool:
        try:
            await self.fetchone("SELECT 1")
        except (sqlite3.Error, ValueError):
            return False
        return True

    async def migrate(self, directory: Path | str) -> list[str]:
        """Apply `directory/*.sql` in name order, each once; returns the names applied.

        SQLite has no `ADD COLUMN IF NOT EXISTS`, so an `ALTER TABLE ... ADD COLUMN`
        whose column already exists (a file applied by hand with `sqlite3 < file`)
        is skipped rather than failing the whole start-up.
        """
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name TEXT PRIMARY KEY,"
            f" applied_at TEXT NOT NULL DEFAULT ({NOW_SQL}))"
        )
        done = {row["name"] for row in await self.fetchall("SELECT name FROM schema_migrations")}
        applied = []
        for path in sorted(await asyncio.to_thread(lambda: list(Path(directory).glob("*.sql")))):
            if path.name in done:
                continue
            async with self.transaction() as tx:
                for statement in split_statements(path.read_text()):
                    if await self._column_exists(tx, statement):
                        continue
                    try:
                        await tx.execute(statement)
                    except sqlite3.Error as exc:
                        raise MigrationError(f"{path.name}: {exc}: {statement[:120]}") from exc
                await tx.execute("INSERT INTO schema_migrations(name) VALUES (?)", (path.name,))
            log.info("db.migration_applied", extra={"migration": path.name, "db": str(self.path)})
            applied.append(path.name)
        return applied

    @staticmethod
    async def _column_exists(tx: Transaction, statement: str) -> bool:
        match = _ADD_COLUMN.match(_strip_comments(statement))
        if not match:
            return False
        table, column = match.groups()
        async with tx.conn.execute(f"PRAGMA table_info({table})") as cur:
            return any(row["name"] == column for row in await cur.fetchall())


T = TypeVar("T")
Work = Callable[[Transaction], Awaitable[T]]


@dataclass
class _Queued(Generic[T]):
    work: Work[T]
    done: asyncio.Future[T]


class GroupCommit:
    """Group commit: many concurrent writers' work, each a function of a transaction, run
    in one transaction, one BEGIN/COMMIT (and one hold of the write lock) per group.

    Each caller gets its own result only once the group is committed, so whatever it
    does next (ack a message, answer a request) follows a durable write. When one work
    raises, the group is rolled back and each work runs again in a transaction of its
    own: the one that fails alone raises to its caller, the others commit. A work must
    therefore only act through `tx` (it may run twice). Works run in arrival order.

    Example::

        group = GroupCommit(db)
        record = await group.run(lambda tx: project(tx, event))  # committed when returned
    """

    def __init__(self, db: Database, max_group: int = 64) -> None:
        self.db = db
        self.max_group = max_group
        self._queue: list[_Queued[Any]] = []
        self._draining: asyncio.Task[None] | None = None
        self.groups = 0

    async def run(self, work: Work[T]) -> T:
        queued: _Queued[T] = _Queued(work, asyncio.get_running_loop().create_future())
        self._queue.append(queued)
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return await queued.done

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._run_group()
        finally:
            self._draining = None
            for queued in self._queue:
                queued.done.cancel()

    async def _run_group(self) -> None:
        async with self.db._write_lock:
            # Taken once the lock is ours: whoever queued while we waited joins the group.
            group = [q for q in self._queue[: self.max_group] if not q.done.done()]
            del self._queue[: self.max_group]
            try:
                await self._commit(group)
            except BaseException:
                for queued in group:
                    queued.done.cancel()
                raise

    async def _commit(self, group: list[_Queued[Any]]) -> None:
        if not group:
            return
        self.groups += 1
        try:
            async with self.db._begun() as tx:
                results = [await queued.work(tx) for queued in group]
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0], error=exc)
                return
            for queued in group:
                try:
                    async with self.db._begun() as tx:
                        result = await queued.work(tx)
                except Exception as one:
                    _settle(queued, error=one)
                else:
                    _settle(queued, result)
            return
        for queued, result in zip(group, results, strict=True):
            _settle(queued, result)


def _settle(queued: _Queued[Any], result: Any = None, error: Exception | None = None) -> None:
    if queued.done.done():
        return  # its caller was cancelled (e.g. at shutdown)
    if error is not None:
        queued.done.set_exception(error)
    else:
        queued.done.set_result(result)


def _first(rows: Iterable[sqlite3.Row]) -> sqlite3.Row | None:
    return next(iter(rows), None)


def _strip_comments(statement: str) -> str:
    return "\n".join(ln for ln in statement.splitlines() if not ln.strip().startswith("--"))
