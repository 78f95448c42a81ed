"""Billing's own settings, on top of the shared ones (read from the environment).

Example::

    settings = BillingSettings.from_base(Settings(service_name="billing"))
    table = load_pricing(settings.pricing_file)
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.pricing import DEFAULT_PRICING_FILE
from shared.settings import Settings

DEFAULT_DATABASE = Path("./data/billing.db")


class BillingSettings(Settings):
    pricing_file: Path = DEFAULT_PRICING_FILE
    # A commitment whose job never reports an end (a lost cancel) stops counting after
    # this long, so it cannot hold the budget for ever.
    commitment_ttl_s: float = Field(default=86_400.0, gt=0)

    @property
    def billing_migrations_path(self) -> Path:
        return self.migrations_path / "billing"

    @classmethod
    def from_base(cls, settings: Settings) -> BillingSettings:
        """Billing settings from the shared ones the entry point read; PRICING_FILE and
        the rest come from the environment. Without DATABASE_PATH, billing opens
        `data/billing.db`, never the gateway's `app.db` (one database per service)."""
        if isinstance(settings, cls):
            return settings
        values = settings.model_dump(include=settings.model_fields_set)
        values.setdefault("database_path", DEFAULT_DATABASE)
        return cls(**values)
