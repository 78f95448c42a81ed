"""The migration runner on real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from shared.db import Database, MigrationError

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations" / "gateway"
V2_COLUMNS = {
    "progress",
    "video_url",
    "storyboard_data",
    "approved",
    "approved_at",
    "estimated_cost",
    "actual_cost",
    "retry_count",
    "error_message",
    "updated_at",
}
# 001 made them as idx_generated_videos_*; 008 gave them these names (issue #17).
V2_INDEXES = {
    "idx_videos_status",
    "idx_videos_campaign",
    "idx_videos_client",
    "idx_videos_updated",
    "idx_videos_approved",
}


def _columns(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[1] for row in conn.execute("PRAGMA table_info(generated_videos)")}


def _v1_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript((MIGRATIONS / "000_base.sql").read_text())
        conn.executemany(
            "INSERT INTO generated_videos (id, campaign_id, client_id, status, prompt,"
            " request_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    "v1-a",
                    "camp",
                    "client-1",
                    "completed",
                    "old brief",
                    '{"a": 1}',
                    "2025-01-01T00:00:00Z",
                ),
                ("v1-b", "camp", "client-2", "failed", "other brief", "{}", "2025-02-01T00:00:00Z"),
            ],
        )


async def test_applying_twice_is_a_no_op(tmp_path: Path) -> None:
    # A fresh database gets every migration, recorded once.
    db = await Database.open(tmp_path / "app.db")
    applied = await db.migrate(MIGRATIONS)
    assert applied == sorted(p.name for p in MIGRATIONS.glob("*.sql"))
    # A second run applies nothing and leaves the schema as it was.
    assert await db.migrate(MIGRATIONS) == []
    rows = await db.fetchall("SELECT name FROM schema_migrations")
    assert len(rows) == len(applied)
    await db.close()
    assert _columns(tmp_path / "app.db") >= V2_COLUMNS
    with sqlite3.connect(tmp_path / "app.db") as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert names >= V2_INDEXES and "update_videos_timestamp" in names
    # The names 001 gave them are gone: each index exists once, under its new name.
    assert not {n.replace("idx_videos_", "idx_generated_videos_") for n in V2_INDEXES} & names


async def test_v1_rows_survive_the_upgrade(tmp_path: Path) -> None:
    # A v1 database holding rows is upgraded in place.
    path = tmp_path / "app.db"
    _v1_database(path)
    db = await Database.open(path)
    await db.migrate(MIGRATIONS)
    rows = await db.fetchall("SELECT * FROM generated_videos ORDER BY id")
    await db.close()
    # The old values are intact and the new columns have their defaults.
    assert [(r["id"], r["status"], r["prompt"], r["request_json"]) for r in rows] == [
        ("v1-a", "completed", "old brief", '{"a": 1}'),
        ("v1-b", "failed", "other brief", "{}"),
    ]
    assert all(r["approved"] == 0 and r["retry_count"] == 0 for r in rows)
    assert [r["updated_at"] for r in rows] == [r["created_at"] for r in rows]


async def test_trigger_updates_updated_at(tmp_path: Path) -> None:
    # Changing a row without touching updated_at gets a fresh timestamp.
    path = tmp_path / "app.db"
    _v1_database(path)
    db = await Database.open(path)
    await db.migrate(MIGRATIONS)
    await db.conn.execute("UPDATE generated_videos SET status = 'queued' WHERE id = 'v1-a'")
    row = await db.fetchone("SELECT updated_at, created_at FROM generated_videos WHERE id = 'v1-a'")
    await db.close()
    assert row["updated_at"] > row["created_at"] and row["updated_at"].startswith("20")


async def test_plain_sqlite_apply_then_runner(tmp_path: Path) -> None:
    # `sqlite3 app.db < 001_v2_video_generation.sql` works on a v1 database (once) ...
    path = tmp_path / "app.db"
    _v1_database(path)
    script = (MIGRATIONS / "001_v2_video_generation.sql").read_text()
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    assert _columns(path) >= V2_COLUMNS
    # ... a second plain run fails, as SQLite has no ADD COLUMN IF NOT EXISTS ...
    with (
        pytest.raises(sqlite3.OperationalError, match="duplicate column"),
        sqlite3.connect(path) as conn,
    ):
        conn.executescript(script)
    # ... and the runner still brings that database up to date without failing.
    db = await Database.open(path)
    applied = await db.migrate(MIGRATIONS)
    await db.close()
    assert "001_v2_video_generation.sql" in applied
    assert {"attempt"} <= _columns(path)


async def test_broken_migration_fails_loudly_and_changes_nothing(tmp_path: Path) -> None:
    # A migration with an error stops start-up and leaves no half-applied change.
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "000_ok.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "001_bad.sql").write_text(
        "CREATE TABLE b (y INTEGER);\nINSERT INTO nowhere VALUES (1);"
    )
    db = await Database.open(tmp_path / "x.db")
    with pytest.raises(MigrationError, match=r"001_bad\.sql"):
        await db.migrate(folder)
    tables = {r["name"] for r in await db.fetchall("SELECT name FROM sqlite_master")}
    await db.close()
    assert "a" in tables and "b" not in tables
