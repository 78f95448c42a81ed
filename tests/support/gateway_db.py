"""The gateway's own database for tests that drive its store directly: `app.db` migrated
in a fresh file, and a small storyboard to write into it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from shared.db import Database
from shared.models import Scene, Storyboard
from shared.settings import Settings


@contextlib.asynccontextmanager
async def migrated_app_db(folder: Path) -> AsyncIterator[Database]:
    """The gateway's `app.db`, migrated, in a fresh file under `folder`."""
    database = await Database.open(folder / "app.db")
    try:
        await database.migrate(Settings().gateway_migrations_path)
        yield database
    finally:
        await database.close()


def a_storyboard() -> Storyboard:
    """Two five-second scenes."""
    scenes = [
        Scene(index=n, script=f"line {n}", caption=f"caption {n}", visual_prompt="v", duration_s=5)
        for n in (1, 2)
    ]
    return Storyboard(scenes=scenes)
