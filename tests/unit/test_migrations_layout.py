"""One migrations folder per database (`migrations/gateway/`, `assets/`, `billing/`), and
the move of the gateway's files out of the root changed nothing for a database migrated
before it: the runner records bare file names, so nothing is applied twice."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from services.assets.settings import AssetsSettings
from services.billing.settings import BillingSettings
from shared.db import Database
from shared.settings import Settings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SERVICES = ("gateway", "assets", "billing")


def old_layout(root: Path) -> Path:
    """The layout before the move: the gateway's files directly in `migrations/`, the
    other services' folders beside them."""
    root.mkdir()
    for path in (MIGRATIONS / "gateway").glob("*.sql"):
        shutil.copy(path, root / path.name)
    for service in ("assets", "billing"):
        shutil.copytree(MIGRATIONS / service, root / service)
    return root


def schema(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()


def test_every_service_has_its_folder_and_the_root_holds_none() -> None:
    # migrations/<service>/*.sql for each database ...
    for service in SERVICES:
        assert sorted((MIGRATIONS / service).glob("*.sql")), f"migrations/{service}/ is empty"
    # ... and no .sql directly in migrations/, where no service looks any more, nor a
    # folder no service reads.
    assert sorted(MIGRATIONS.glob("*.sql")) == []
    assert {p.name for p in MIGRATIONS.iterdir() if p.is_dir()} == set(SERVICES)


def test_each_service_reads_its_own_folder_under_one_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # By default the folders sit in the repository's migrations/ ...
    settings = Settings()
    assert settings.gateway_migrations_path == MIGRATIONS / "gateway"
    # ... and MIGRATIONS_PATH moves the root of all three together.
    monkeypatch.setenv("MIGRATIONS_PATH", str(tmp_path))
    assert Settings().gateway_migrations_path == tmp_path / "gateway"
    assert AssetsSettings().assets_migrations_path == tmp_path / "assets"
    assert BillingSettings().billing_migrations_path == tmp_path / "billing"


async def test_a_database_migrated_before_the_move_applies_nothing_again(tmp_path: Path) -> None:
    # An app.db migrated by the gateway when its files sat directly in migrations/ ...
    path = tmp_path / "app.db"
    db = await Database.open(path)
    before = await db.migrate(old_layout(tmp_path / "old-migrations"))
    await db.close()
    assert before == sorted(p.name for p in (MIGRATIONS / "gateway").glob("*.sql"))
    assert before[0] == "000_base.sql" and "006_reliability.sql" in before
    recorded = schema(path)
    # ... is opened by the gateway reading migrations/gateway/: nothing is applied twice ...
    db = await Database.open(path)
    assert await db.migrate(Settings().gateway_migrations_path) == []
    names = [r["name"] for r in await db.fetchall("SELECT name FROM schema_migrations")]
    await db.close()
    # ... the ledger still holds the same bare names, and the schema is untouched.
    assert sorted(names) == before
    assert schema(path) == recorded


async def test_a_database_from_before_the_move_gets_only_new_files(tmp_path: Path) -> None:
    # A database that had 000-005 applied under the old layout ...
    root = old_layout(tmp_path / "old-migrations")
    newest = max(root.glob("*.sql"))
    newest.unlink()
    db = await Database.open(tmp_path / "app.db")
    await db.migrate(root)
    # ... gets exactly the file it lacked from migrations/gateway/.
    assert await db.migrate(MIGRATIONS / "gateway") == [newest.name]
    await db.close()
