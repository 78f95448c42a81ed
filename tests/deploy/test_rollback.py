"""The way back to the v1 schema (deploy/rollback/001_v2_down.sql), on a database migrated by
the project's runner and holding rows: the v1 columns and values survive, everything v2
added is gone, and starting v2 again upgrades the rolled-back database as before."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.deploy.support import DEPLOY, REPO, run_migrate

ROLLBACK = DEPLOY / "rollback" / "001_v2_down.sql"
MIGRATIONS = REPO / "migrations" / "gateway"
V1_COLUMNS_SQL = "SELECT id, campaign_id, client_id, status, prompt, request_json, created_at"
V1_ROWS = [
    ("v1-a", "camp", "client-1", "completed", "old brief", '{"a": 1}', "2025-01-01T00:00:00Z"),
    ("v1-b", "camp", "client-2", "failed", "other brief", "{}", "2025-02-01T00:00:00Z"),
]
V2_ROW = (
    "v2-c",
    "spring",
    "client-1",
    "storyboard_ready",
    "new brief",
    "{}",
    "2026-01-01T00:00:00Z",
)


def test_sqlite_can_drop_columns() -> None:
    # The rollback relies on ALTER TABLE ... DROP COLUMN (SQLite 3.35+).
    assert sqlite3.sqlite_version_info >= (3, 35, 0)


def table_info(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return [tuple(row) for row in conn.execute("PRAGMA table_info(generated_videos)")]


def schema_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        }


def v1_reference(tmp_path: Path) -> Path:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((MIGRATIONS / "000_base.sql").read_text())
    return path


def v2_database_with_rows(tmp_path: Path) -> Path:
    """A v1 database with rows, upgraded by the runner, then used by v2 for a while."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((MIGRATIONS / "000_base.sql").read_text())
        conn.executemany("INSERT INTO generated_videos VALUES (?, ?, ?, ?, ?, ?, ?)", V1_ROWS)
    assert run_migrate([str(path), str(MIGRATIONS)]) == 0
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO generated_videos (id, campaign_id, client_id, status, prompt,"
            " request_json, created_at, storyboard_data, estimated_cost)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, '{\"scenes\": []}', 1.25)",
            V2_ROW,
        )
        conn.execute(
            "UPDATE generated_videos SET approved = 1, actual_cost = 2.5, outputs = '[1]'"
            " WHERE id = 'v1-a'"
        )
        conn.execute(
            "INSERT INTO outbox (id, subject, headers, payload)"
            " VALUES ('e1', 'jobs.x', '{}', x'00')"
        )
    return path


def test_rollback_returns_to_the_v1_schema_and_keeps_v1_values(tmp_path: Path) -> None:
    path = v2_database_with_rows(tmp_path)
    # Roll back with the script, as `sqlite3 -bail app.db < 001_v2_down.sql` would.
    with sqlite3.connect(path) as conn:
        conn.executescript(ROLLBACK.read_text())
    # The table is exactly v1's: same columns, types, defaults, keys, in order ...
    assert table_info(path) == table_info(v1_reference(tmp_path))
    # ... with no v2 index, trigger or table left, and the runner's ledger back at v1.
    assert schema_names(path) == {"generated_videos", "schema_migrations"}
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"{V1_COLUMNS_SQL} FROM generated_videos ORDER BY id").fetchall()
        ledger = [r[0] for r in conn.execute("SELECT name FROM schema_migrations")]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # Every row, v2-made ones too, kept its v1 values.
    assert rows == [*V1_ROWS, V2_ROW]
    assert ledger == ["000_base.sql"]


def test_v2_starts_again_on_a_rolled_back_database(tmp_path: Path) -> None:
    path = v2_database_with_rows(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.executescript(ROLLBACK.read_text())
    # Rolling forward again re-applies every v2 migration, rows intact.
    assert run_migrate([str(path), str(MIGRATIONS)]) == 0
    with sqlite3.connect(path) as conn:
        ledger = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
        rows = conn.execute(f"{V1_COLUMNS_SQL} FROM generated_videos ORDER BY id").fetchall()
    assert ledger == sorted(p.name for p in MIGRATIONS.glob("*.sql"))
    assert rows == [*V1_ROWS, V2_ROW]


def test_a_rollback_that_fails_changes_nothing(tmp_path: Path) -> None:
    # A database where not every v2 migration was applied: the script stops at the first
    # column it cannot drop, and its transaction leaves the database as it was.
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((MIGRATIONS / "000_base.sql").read_text())
        conn.executescript((MIGRATIONS / "001_v2_video_generation.sql").read_text())
    before = (table_info(path), schema_names(path))
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.OperationalError):
        conn.executescript(ROLLBACK.read_text())
    conn.close()
    assert (table_info(path), schema_names(path)) == before


def test_the_runbook_commands_work_with_the_sqlite3_cli(tmp_path: Path) -> None:
    # deploy/README.md: back up with .backup, then roll back with `sqlite3 -bail`.
    path = v2_database_with_rows(tmp_path)
    backup = tmp_path / "app.db.before-rollback"
    subprocess.run(["sqlite3", str(path), f".backup '{backup}'"], check=True, timeout=30)
    with ROLLBACK.open() as script:
        subprocess.run(["sqlite3", "-bail", str(path)], stdin=script, check=True, timeout=30)
    assert table_info(path) == table_info(v1_reference(tmp_path))
    # The backup is the v2 database as it was: restoring it undoes the rollback.
    assert "outbox" in schema_names(backup)
    with sqlite3.connect(backup) as conn:
        assert conn.execute(
            "SELECT approved FROM generated_videos WHERE id = 'v1-a'"
        ).fetchone() == (1,)


def test_the_script_and_the_runbook_name_every_migration_they_undo() -> None:
    # Every gateway migration after v1's base is undone, so each is named where an operator
    # reads what the script does: its header, the ledger rows it deletes, the runbook.
    undone = sorted(p.name for p in MIGRATIONS.glob("*.sql") if p.name != "000_base.sql")
    script = ROLLBACK.read_text()
    header = "\n".join(line for line in script.splitlines() if line.startswith("--"))
    ledger = script.split("DELETE FROM schema_migrations", 1)[1]
    runbook = (DEPLOY / "README.md").read_text().split("## Rolling back to the v1 schema", 1)[1]
    section = runbook.split("\n## ", 1)[0]
    for name in undone:
        assert name in header, f"the header of {ROLLBACK.name} does not list {name}"
        assert f"'{name}'" in ledger, f"{ROLLBACK.name} does not forget {name}"
        assert f"`{name}`" in section, f"deploy/README.md's rollback section omits {name}"
    # The ranges it quotes end at the newest migration.
    newest = undone[-1][:3]
    assert f"001–{newest}" in section and f"001-{newest}" in header
    assert f"`{newest}_*.sql`" in section


def test_a_database_migrated_before_008_rolls_back_the_same_way(tmp_path: Path) -> None:
    # An app.db that never saw 008: its indexes still carry 001's names ...
    before_008 = tmp_path / "before-008"
    before_008.mkdir()
    for path in MIGRATIONS.glob("*.sql"):
        if path.name < "008":
            (before_008 / path.name).write_text(path.read_text())
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((MIGRATIONS / "000_base.sql").read_text())
        conn.executemany("INSERT INTO generated_videos VALUES (?, ?, ?, ?, ?, ?, ?)", V1_ROWS)
    assert run_migrate([str(path), str(before_008)]) == 0
    assert "idx_generated_videos_status" in schema_names(path)
    # ... and the script takes it back to v1 all the same.
    with sqlite3.connect(path) as conn:
        conn.executescript(ROLLBACK.read_text())
        rows = conn.execute(f"{V1_COLUMNS_SQL} FROM generated_videos ORDER BY id").fetchall()
    assert table_info(path) == table_info(v1_reference(tmp_path))
    assert schema_names(path) == {"generated_videos", "schema_migrations"}
    assert rows == V1_ROWS
