"""Apply a folder of `.sql` migrations to one SQLite file with the services' own runner
(`shared.db.Database.migrate`: name order, each file once, ADD COLUMN of an existing column
skipped), so the container entrypoint migrates before the service starts.

Exit status: 0 applied (or already up to date), 1 a migration failed (nothing of that file
is kept), 2 bad arguments. Logs are JSON lines on stderr, like the services'.

Example::

    python -m deploy.migrate /data/db/app.db migrations/gateway --service gateway
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.db import Database, MigrationError
from shared.logging import configure_logging, get_logger

log = get_logger("deploy.migrate")


async def migrate(database: Path, migrations: Path) -> list[str]:
    """Open `database` (created if missing), apply the folder's `*.sql`, close it."""
    db = await Database.open(database)
    try:
        return await db.migrate(migrations)
    finally:
        await db.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.migrate", description=__doc__)
    parser.add_argument("database", type=Path, help="the SQLite file (created if missing)")
    parser.add_argument(
        "migrations", type=Path, help="the folder of *.sql files (migrations/<service>)"
    )
    parser.add_argument("--service", default="migrate", help="service name for the logs")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging(args.service, args.log_level)
    where = {"db": str(args.database), "migrations": str(args.migrations)}
    if not args.migrations.is_dir():
        log.error("db.migrate_failed", extra={**where, "reason": "no such migrations folder"})
        return 2
    try:
        applied = asyncio.run(migrate(args.database, args.migrations))
    except (MigrationError, sqlite3.Error, OSError) as exc:
        log.error("db.migrate_failed", extra={**where, "reason": str(exc)})
        return 1
    log.info("db.migrated", extra={**where, "applied": applied})
    return 0


if __name__ == "__main__":
    sys.exit(main())
