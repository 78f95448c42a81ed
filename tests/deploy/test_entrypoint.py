"""deploy/entrypoint.sh run for real: it migrates a fresh and an existing v1 database with the
project's runner, is idempotent, refuses to start on a broken migration, and execs the
service (here a stub command) in its own place so signals reach it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.deploy.support import DEPLOY, REPO, STATEFUL, run_migrate

ENTRYPOINT = DEPLOY / "entrypoint.sh"
MIGRATIONS = REPO / "migrations"
GATEWAY_MIGRATIONS = MIGRATIONS / "gateway"
V1_ROWS = [
    ("v1-a", "camp", "client-1", "completed", "old brief", '{"a": 1}', "2025-01-01T00:00:00Z"),
    ("v1-b", "camp", "client-2", "failed", "other brief", "{}", "2025-02-01T00:00:00Z"),
]


def run(service: str, *command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_PATH", "MIGRATIONS_PATH", "PYTHONPATH"}
    }
    environment.update({"PYTHON": sys.executable, "REELSMITH_DB_DIR": str(cwd / "db"), **env})
    return subprocess.run(
        [str(ENTRYPOINT), service, *command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def log_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    # Everything the entrypoint and the runner print is a JSON line, like the services' logs.
    return [json.loads(line) for line in result.stderr.splitlines() if line.strip()]


def applied(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]


def columns(path: Path, table: str = "generated_videos") -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def v1_database(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.executescript((GATEWAY_MIGRATIONS / "000_base.sql").read_text())
        conn.executemany("INSERT INTO generated_videos VALUES (?, ?, ?, ?, ?, ?, ?)", V1_ROWS)


def test_fresh_gateway_database_gets_every_migration(tmp_path: Path) -> None:
    # The gateway starts on an empty volume: app.db is created with the whole schema ...
    result = run("gateway", "true", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    db = tmp_path / "db" / "app.db"
    assert applied(db) == sorted(p.name for p in GATEWAY_MIGRATIONS.glob("*.sql"))
    assert {"approved", "storyboard_data", "attempt"} <= columns(db)
    assert log_lines(result)[-1]["event"] == "db.migrated"
    # ... and a restart applies nothing and still starts the service.
    again = run("gateway", "true", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert log_lines(again)[-1]["applied"] == []


def test_existing_v1_database_is_upgraded_in_place(tmp_path: Path) -> None:
    # A v1 app.db (no schema_migrations, two jobs) is mounted where DATABASE_PATH points.
    db = tmp_path / "volume" / "app.db"
    v1_database(db)
    result = run("gateway", "true", cwd=tmp_path, DATABASE_PATH=str(db))
    assert result.returncode == 0, result.stderr
    # The v2 columns are there and the v1 rows kept their values.
    assert {"approved", "retry_count", "updated_at", "outputs"} <= columns(db)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT id, campaign_id, client_id, status, prompt, request_json, created_at,"
            " approved, updated_at FROM generated_videos ORDER BY id"
        ).fetchall()
    assert [row[:7] for row in rows] == V1_ROWS
    assert all(row[7] == 0 and row[8] == row[6] for row in rows)


def test_a_database_migrated_from_the_old_flat_layout_applies_nothing_again(
    tmp_path: Path,
) -> None:
    # An app.db migrated when the gateway's files sat directly in migrations/ ...
    old_root = tmp_path / "old-migrations"
    old_root.mkdir()
    for path in GATEWAY_MIGRATIONS.glob("*.sql"):
        (old_root / path.name).write_text(path.read_text())
    db = tmp_path / "volume" / "app.db"
    first = run("gateway", "true", cwd=tmp_path, DATABASE_PATH=str(db))
    assert first.returncode == 0, first.stderr
    old = tmp_path / "volume" / "old.db"
    assert run_migrate([str(old), str(old_root)]) == 0
    # ... starts with migrations/gateway/: the recorded names match, nothing is re-applied.
    result = run("gateway", "true", cwd=tmp_path, DATABASE_PATH=str(old))
    assert result.returncode == 0, result.stderr
    assert log_lines(result)[-1]["applied"] == []
    assert applied(old) == applied(db)


def test_broken_migration_stops_the_start(tmp_path: Path) -> None:
    # A gateway migrations folder whose second file is broken: the entrypoint exits non-zero ...
    root = tmp_path / "migrations"
    folder = root / "gateway"
    folder.mkdir(parents=True)
    (folder / "000_ok.sql").write_text("CREATE TABLE a (x INTEGER);\n")
    (folder / "001_bad.sql").write_text(
        "CREATE TABLE b (y INTEGER);\nINSERT INTO nowhere VALUES (1);\n"
    )
    marker = tmp_path / "service-started"
    result = run(
        "gateway",
        "touch",
        str(marker),
        cwd=tmp_path,
        MIGRATIONS_PATH=str(root),
    )
    assert result.returncode != 0
    # ... says why, never starts the service, and keeps nothing of the broken file.
    events = log_lines(result)
    failure = next(e for e in events if e["event"] == "db.migrate_failed")
    assert "001_bad.sql" in str(failure["reason"])
    assert events[-1]["event"] == "entrypoint.migrate_failed"
    assert not marker.exists()
    assert applied(tmp_path / "db" / "app.db") == ["000_ok.sql"]
    assert columns(tmp_path / "db" / "app.db", "b") == set()


def test_a_service_migrates_its_own_folder_into_its_own_file(tmp_path: Path) -> None:
    # Billing-like service: MIGRATIONS_PATH/<service>/*.sql go to <service>.db, not app.db.
    root = tmp_path / "migrations"
    (root / "billing").mkdir(parents=True)
    (root / "gateway").mkdir()
    (root / "gateway" / "000_gateway_only.sql").write_text("CREATE TABLE gateway_only (x);\n")
    (root / "billing" / "001_ledger.sql").write_text("CREATE TABLE ledger (k TEXT PRIMARY KEY);\n")
    result = run("billing", "true", cwd=tmp_path, MIGRATIONS_PATH=str(root))
    assert result.returncode == 0, result.stderr
    assert applied(tmp_path / "db" / "billing.db") == ["001_ledger.sql"]
    assert not (tmp_path / "db" / "app.db").exists()


def test_the_real_service_folders_apply(tmp_path: Path) -> None:
    # Every migrations/<service>/ folder in the repository applies to a fresh database.
    for service, db_file in STATEFUL.items():
        result = run(service, "true", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        names = sorted(p.name for p in (MIGRATIONS / service).glob("*.sql"))
        assert names and applied(tmp_path / "db" / db_file) == names


def test_the_gateway_does_not_start_without_its_folder(tmp_path: Path) -> None:
    # MIGRATIONS_PATH pointing at the old flat layout (*.sql in the root): the gateway refuses
    # to start rather than run on a schema nobody migrated.
    root = tmp_path / "migrations"
    root.mkdir()
    (root / "000_base.sql").write_text((GATEWAY_MIGRATIONS / "000_base.sql").read_text())
    marker = tmp_path / "service-started"
    result = run("gateway", "touch", str(marker), cwd=tmp_path, MIGRATIONS_PATH=str(root))
    assert result.returncode == 1
    assert log_lines(result)[-1]["event"] == "entrypoint.migrate_failed"
    assert not marker.exists() and not (tmp_path / "db" / "app.db").exists()


def test_a_service_without_migrations_starts_anyway(tmp_path: Path) -> None:
    root = tmp_path / "migrations"
    root.mkdir()
    result = run("assets", "true", cwd=tmp_path, MIGRATIONS_PATH=str(root))
    assert result.returncode == 0, result.stderr
    assert log_lines(result)[-1]["event"] == "entrypoint.no_migrations"


def test_the_service_replaces_the_shell_and_sees_its_database_path(tmp_path: Path) -> None:
    # exec: the service keeps the entrypoint's pid, so SIGTERM from the runtime reaches it.
    probe = (
        "import json, os;"
        " print(json.dumps([os.getpid(), os.getppid(), os.environ['DATABASE_PATH']]))"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_PATH", "MIGRATIONS_PATH"}}
    proc = subprocess.Popen(
        [str(ENTRYPOINT), "assets", sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**env, "PYTHON": sys.executable, "REELSMITH_DB_DIR": str(tmp_path / "db")},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    out, _ = proc.communicate(timeout=60)
    pid, parent, database = json.loads(out)
    assert proc.returncode == 0
    assert pid == proc.pid and parent == os.getpid()
    assert database == str(tmp_path / "db" / "assets.db")


def test_stateless_services_touch_no_database(tmp_path: Path) -> None:
    for service in ("storyboard", "renderer"):
        result = run(service, sys.executable, "-c", "print('started')", cwd=tmp_path)
        assert result.returncode == 0 and result.stdout.strip() == "started"
    assert not (tmp_path / "db").exists()


def test_the_default_command_is_the_service_module(tmp_path: Path) -> None:
    # Without a command the entrypoint runs `$PYTHON -m services.<name>`: a stub interpreter
    # shows the exact command line.
    stub = tmp_path / "python"
    stub.write_text('#!/bin/sh\nif [ "$2" = deploy.migrate ]; then exit 0; fi\necho "$@"\n')
    stub.chmod(0o755)
    result = run("renderer", cwd=tmp_path, PYTHON=str(stub))
    assert result.stdout.strip() == "-m services.renderer"


def test_an_unknown_service_is_a_usage_error(tmp_path: Path) -> None:
    for argv in (["gatewya"], []):
        result = subprocess.run(
            [str(ENTRYPOINT), *argv], capture_output=True, text=True, timeout=30, cwd=tmp_path
        )
        assert result.returncode == 2
        assert log_lines(result)[-1]["event"] == "entrypoint.usage"


def readme_query(marker: str) -> str:
    """The README's shell line (Configuration and observability) that contains `marker`."""
    lines = (REPO / "README.md").read_text().splitlines()
    return next(line for line in lines if line.startswith("cat data/logs/") and marker in line)


def test_every_failure_is_an_error_line_the_readme_query_counts(tmp_path: Path) -> None:
    # Each way the entrypoint refuses to start: no service, an unknown one, no gateway
    # migrations folder, a broken migration.
    broken = tmp_path / "broken"
    (broken / "gateway").mkdir(parents=True)
    (broken / "gateway" / "001_bad.sql").write_text("INSERT INTO nowhere VALUES (1);\n")
    results = [
        subprocess.run([str(ENTRYPOINT)], capture_output=True, text=True, timeout=30, cwd=tmp_path),
        run("gatewya", cwd=tmp_path),
        run("gateway", "true", cwd=tmp_path, MIGRATIONS_PATH=str(tmp_path / "missing")),
        run("gateway", "true", cwd=tmp_path, MIGRATIONS_PATH=str(broken)),
    ]
    assert [r.returncode for r in results] == [2, 2, 1, 1]
    # Each ends with an ERROR line of its own, with a reason, like the services' failures ...
    last = [log_lines(r)[-1] for r in results]
    assert [(line["level"], line["reason"]) for line in last] == [
        ("ERROR", "no service named"),
        ("ERROR", "unknown service"),
        ("ERROR", "no migrations folder"),
        ("ERROR", "migration failed"),
    ]
    assert "gatewya" in str(last[1]["message"])
    # ... so the README's error query over the logs counts them, beside the runner's own.
    logs = tmp_path / "data" / "logs"
    logs.mkdir(parents=True)
    (logs / "gateway.jsonl").write_text("".join(r.stderr for r in results))
    query = readme_query('select(.level=="ERROR")')
    counted = subprocess.run(
        ["bash", "-o", "pipefail", "-c", query],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    counts = {
        reason: int(n) for n, reason in (line.split(maxsplit=1) for line in counted.splitlines())
    }
    assert [counts.get(str(line["reason"])) for line in last] == [1, 1, 1, 1], counts
    assert any("001_bad.sql" in reason for reason in counts), counts
    assert "null" not in counts, "an ERROR line without a reason"


def test_entrypoint_is_shellcheck_clean() -> None:
    result = subprocess.run(["shellcheck", str(ENTRYPOINT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# --- deploy.migrate in-process -------------------------------------------------------------


def test_migrate_reports_bad_arguments_and_failures(tmp_path: Path) -> None:
    assert run_migrate([str(tmp_path / "x.db"), str(tmp_path / "missing")]) == 2
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "001.sql").write_text("CREATE TABLE x (;\n")
    assert run_migrate([str(tmp_path / "x.db"), str(tmp_path / "m")]) == 1
    (tmp_path / "m" / "001.sql").write_text("CREATE TABLE x (y);\n")
    assert run_migrate([str(tmp_path / "x.db"), str(tmp_path / "m")]) == 0
    assert applied(tmp_path / "x.db") == ["001.sql"]
