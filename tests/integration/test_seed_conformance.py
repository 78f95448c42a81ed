"""The small items issue #17 lists under "Seed conformance", each met as an operator or a
client meets it: the indexes of `generated_videos` under their `idx_videos_*` names on a
fresh and on an already migrated database (and the queries that check them), a malformed
job id answered like an unknown one, the upload's documented 409, and the README's
"total cost today" query summing today only."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from services.gateway.contract.document import build_document
from shared.db import Database
from tests.contracts.openapi_support import assert_matches
from tests.support.system import System
from tests.support.waiting import eventually
from tests.unit.test_asset_validation import image_bytes

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = REPO / "migrations" / "gateway"
RENAMING = MIGRATIONS / "008_seed_index_names.sql"
# What a database migrated before 008 gets at its next start: 008 and every later file.
FROM_008 = sorted(path.name for path in MIGRATIONS.glob("*.sql") if path.name >= RENAMING.name)
# Each index on the column it had under 001's name (idx_generated_videos_*).
INDEXES = {
    "idx_videos_status": ["status"],
    "idx_videos_campaign": ["campaign_id"],
    "idx_videos_client": ["client_id"],
    "idx_videos_updated": ["updated_at"],
    "idx_videos_approved": ["approved"],
}
# The indexes with no new name: the job list's (002), the primary key's, and those 010 adds
# under names of their own (the job list's filters, bench/scale.py).
KEPT = {
    "idx_generated_videos_client_created": ["client_id", "created_at"],
    "sqlite_autoindex_generated_videos_1": ["id"],
    "idx_videos_created": ["created_at"],
    "idx_videos_status_created": ["status", "created_at"],
    "idx_videos_campaign_created": ["campaign_id", "created_at"],
    "idx_videos_client_status_created": ["client_id", "status", "created_at"],
    "idx_videos_client_campaign_created": ["client_id", "campaign_id", "created_at"],
}
V1_ROW = ("v1-a", "camp", "client-1", "completed", "old brief", "{}", "2025-01-01T00:00:00Z")


# --------------------------------------------------------------------------- indexes


def documented_checks() -> list[tuple[str, str]]:
    """The verification queries in 008's comments, each with the plan line shown under it."""
    lines = [line.removeprefix("--").strip() for line in RENAMING.read_text().splitlines()]
    return [
        (query, lines[at + 1])
        for at, query in enumerate(lines)
        if query.startswith("EXPLAIN QUERY PLAN ")
    ]


def before_008(tmp_path: Path) -> Path:
    """A copy of the gateway's migrations as they were before 008."""
    folder = tmp_path / "before-008"
    folder.mkdir()
    for path in MIGRATIONS.glob("*.sql"):
        if path.name < RENAMING.name:
            shutil.copy(path, folder / path.name)
    return folder


async def fresh(tmp_path: Path) -> Path:
    # A new volume: every migration at once.
    path = tmp_path / "app.db"
    db = await Database.open(path)
    await db.migrate(MIGRATIONS)
    await db.close()
    return path


async def migrated_before_008(tmp_path: Path) -> Path:
    # A database in service before 008, holding a job, under 001's index names ...
    path = tmp_path / "app.db"
    db = await Database.open(path)
    await db.migrate(before_008(tmp_path))
    await db.conn.execute(
        "INSERT INTO generated_videos (id, campaign_id, client_id, status, prompt,"
        " request_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        V1_ROW,
    )
    assert "idx_generated_videos_status" in index_columns(path)
    # ... gets exactly 008 (and the files after it) at the next start.
    assert await db.migrate(MIGRATIONS) == FROM_008
    await db.close()
    return path


async def renamed_by_hand(tmp_path: Path) -> Path:
    # The same database, 008 run twice with the sqlite3 shell before the runner sees it.
    path = tmp_path / "app.db"
    db = await Database.open(path)
    await db.migrate(before_008(tmp_path))
    await db.close()
    await asyncio.to_thread(sqlite3_shell, path, RENAMING)
    await asyncio.to_thread(sqlite3_shell, path, RENAMING)
    db = await Database.open(path)
    assert await db.migrate(MIGRATIONS) == FROM_008
    await db.close()
    return path


def sqlite3_shell(path: Path, script: Path) -> None:
    """`sqlite3 -bail app.db < script`, as the runbook's operator types it."""
    with script.open() as stdin:
        subprocess.run(["sqlite3", "-bail", str(path)], stdin=stdin, check=True, timeout=30)


def index_columns(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as conn:
        names = [row[1] for row in conn.execute("PRAGMA index_list(generated_videos)")]
        return {
            name: [row[2] for row in conn.execute(f"PRAGMA index_info({name})")] for name in names
        }


@pytest.mark.parametrize("make", [fresh, migrated_before_008, renamed_by_hand])
async def test_the_indexes_carry_the_new_names_and_serve_the_documented_queries(
    tmp_path: Path, make: Any
) -> None:
    path = await make(tmp_path)
    # Exactly the five names on their columns, beside the two that keep theirs: no index
    # is left under 001's name, none is there twice.
    assert index_columns(path) == {**INDEXES, **KEPT}
    # Each query 008 documents is a search through the index it names.
    checks = documented_checks()
    assert {name for _, plan in checks for name in re.findall(r"idx_videos_\w+", plan)} == set(
        INDEXES
    )
    with sqlite3.connect(path) as conn:
        for query, plan in checks:
            details = [row[3] for row in conn.execute(query.removesuffix(";"))]
            assert details == [plan], query
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_the_runbook_shows_the_same_checks_as_the_migration() -> None:
    # deploy/README.md, "Checking the gateway's indexes": the lines an operator pastes.
    runbook = (REPO / "deploy" / "README.md").read_text()
    section = runbook.split("### Checking the gateway's indexes", 1)[1].split("\n#", 1)[0]
    pasted = [
        line for line in section.splitlines() if line.startswith(("PRAGMA ", "EXPLAIN QUERY"))
    ]
    assert pasted == ["PRAGMA index_list(generated_videos);"] + [q for q, _ in documented_checks()]
    assert all(f"`{name}`" in section for name in INDEXES)


# --------------------------------------------------------------------------- HTTP


async def test_a_malformed_job_id_is_404_like_an_unknown_one(system: System) -> None:
    doc = build_document(system.app)
    # An id that could never have been issued, on the job and on what hangs off it ...
    for method, tail, template in [
        ("GET", "", "/api/v2/jobs/{job_id}"),
        ("GET", "/events", "/api/v2/jobs/{job_id}/events"),
        ("GET", "/video", "/api/v2/jobs/{job_id}/video"),
        ("POST", "/approve", "/api/v2/jobs/{job_id}/approve"),
    ]:
        answers = [
            await system.call(method, f"/api/v2/jobs/{job_id}{tail}")
            for job_id in ("not!a!valid!id", "0123456789abcdef0123456789abcdef")
        ]
        # ... answers exactly as an unknown well-formed one does: 404, the error shape.
        (status, malformed, _), (unknown_status, unknown, _) = answers
        assert (status, unknown_status) == (404, 404), (method, tail, malformed)
        assert malformed["error"]["code"] == unknown["error"]["code"] == "not_found"
        assert set(malformed["error"]) == {"code", "message", "details"}
        assert_matches(doc, template, method.lower(), 404, malformed)


async def test_the_upload_documents_its_409_and_answers_it(system: System) -> None:
    doc = build_document(system.app)
    # Both upload routes document the 409 an Idempotency-Key can answer.
    for path in ("/api/v2/upload-asset", "/api/v2/assets"):
        assert "409" in doc["paths"][path]["post"]["responses"], path

    async def upload(color: tuple[int, int, int]) -> tuple[int, Any]:
        form = aiohttp.FormData()
        form.add_field("file", image_bytes(color=color), filename="p.png", content_type="image/png")
        headers = {"Idempotency-Key": "seed-409"}
        status, body, _ = await system.call(
            "POST", "/api/v2/upload-asset", data=form, headers=headers
        )
        return status, body

    # A first upload under a key (once the assets service answers; a 503 frees the key) ...
    status, _ = await eventually(lambda: upload((10, 200, 10)), lambda a: a[0] != 503)
    assert status == 201
    # ... then another file under the same key: the documented 409, in its documented shape.
    status, body = await upload((200, 10, 10))
    assert status == 409 and body["error"]["code"] == "idempotency_key_reused", body
    assert_matches(doc, "/api/v2/upload-asset", "post", 409, body)


# --------------------------------------------------------------------------- README


def readme_cost_query() -> str:
    lines = (REPO / "README.md").read_text().splitlines()
    return next(line for line in lines if line.startswith("cat ") and ".actual_cost" in line)


def cost_log(now: datetime) -> str:
    """The gateway's log of two days: job_completed lines today and yesterday, and others."""

    def line(at: datetime, event: str, cost: float | None) -> str:
        return json.dumps(
            {
                "ts": at.isoformat(timespec="milliseconds"),
                "level": "INFO",
                "service": "gateway",
                "event": event,
                "actual_cost": cost,
            }
        )

    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return "\n".join(
        [
            line(midnight - timedelta(milliseconds=1), "job_completed", 100.0),  # yesterday
            line(midnight - timedelta(hours=5), "job_completed", 40.0),
            line(midnight, "job_completed", 1.25),  # the first moment of today
            line(now, "job_completed", 2.5),
            line(now, "job_completed", None),  # a job that cost nothing
            line(now, "job_progress", 7.0),  # not a completed job
        ]
    )


def test_the_readme_cost_query_sums_only_today(tmp_path: Path) -> None:
    logs = tmp_path / "data" / "logs"
    logs.mkdir(parents=True)
    query = readme_cost_query()
    # Run as the README says, in the folder `make run` writes data/logs/ into; written and
    # run again on the rare run that straddles midnight UTC.
    for _ in range(2):
        now = datetime.now(UTC)
        (logs / "gateway.jsonl").write_text(cost_log(now) + "\n")
        answer = subprocess.run(
            ["bash", "-o", "pipefail", "-c", query],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        if datetime.now(UTC).date() == now.date():
            break
    # Today's two costs, not yesterday's nor another event's.
    assert float(answer) == pytest.approx(1.25 + 2.5)
