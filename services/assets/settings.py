"""The assets service's own settings, on top of the shared ones (read from the environment).

Example::

    settings = AssetsSettings.from_base(Settings(service_name="assets"))
    await db.migrate(settings.assets_migrations_path)
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.settings import Settings

DEFAULT_DATABASE = Path("./data/assets.db")


class AssetsSettings(Settings):
    # Uploads the gateway streamed but never handed over (it crashed mid-request) are
    # deleted after this long; a live upload keeps touching its file.
    incoming_ttl_s: float = Field(default=3600.0, gt=0)
    incoming_sweep_every_s: float = Field(default=600.0, gt=0)

    @property
    def assets_migrations_path(self) -> Path:
        return self.migrations_path / "assets"

    @classmethod
    def from_base(cls, settings: Settings) -> AssetsSettings:
        """Assets settings from the shared ones the entry point read. Without
        DATABASE_PATH, assets opens `data/assets.db`, never the gateway's `app.db`."""
        if isinstance(settings, cls):
            return settings
        values = settings.model_dump(include=settings.model_fields_set)
        values.setdefault("database_path", DEFAULT_DATABASE)
        return cls(**values)
