"""The pricing table: which model plays each role, and what each model costs.

The table is reviewed data (`shared/pricing.toml`, or the file `PRICING_FILE` names) that
every service may read: billing quotes from it, and the storyboard and renderer workers
take the model of each role (and its prices, for cost events) from it. Only the data
model and its loader live here; quotes, budgets and the ledger are billing's
(`services/billing`).

Example::

    source = PricingSource(settings.pricing_file or DEFAULT_PRICING_FILE)
    table = source.table()          # re-read when the file changes
    print(table.version, table.tier("replicate", "standard"))
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.billing import Quality, Role, Unit
from shared.logging import get_logger

log = get_logger(__name__)

DEFAULT_PRICING_FILE = Path(__file__).resolve().parent / "pricing.toml"


class PricingError(ValueError):
    """The pricing table is unusable, or it has no price for what was asked."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Assumptions(_Strict):
    script_input_tokens: int = Field(ge=0)
    script_output_tokens_per_scene: int = Field(ge=0)
    voice_characters_per_second: float = Field(ge=0)


class ModelPrice(_Strict):
    """One model: `unit` + `price_usd`, or `prices` per unit, or hardware time."""

    unit: Unit | None = None
    price_usd: float | None = Field(default=None, ge=0)
    prices: dict[Unit, float] = Field(default_factory=dict)
    hardware: str | None = None
    predict_s: float | None = Field(default=None, gt=0)
    clip_lengths_s: list[float] | None = Field(default=None, min_length=1)
    source: str = ""

    @model_validator(mode="after")
    def _one_shape(self) -> ModelPrice:
        if self.unit is not None and self.prices:
            raise ValueError("give either unit + price_usd or prices, not both")
        if self.unit is None and not self.prices:
            raise ValueError("give unit + price_usd, or prices")
        if any(price < 0 for price in self.prices.values()):
            raise ValueError("prices must not be negative")
        if self.unit == "gpu_second" and (self.hardware is None or self.predict_s is None):
            raise ValueError("a gpu_second model needs hardware and predict_s")
        if self.unit not in (None, "gpu_second") and self.price_usd is None:
            raise ValueError("price_usd is missing")
        return self

    @property
    def units(self) -> tuple[Unit, ...]:
        return (self.unit,) if self.unit is not None else tuple(self.prices)


class PricingTable(_Strict):
    version: str
    assumptions: Assumptions
    backends: dict[str, dict[Quality, dict[Role, str]]]
    models: dict[str, ModelPrice]
    hardware: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references_resolve(self) -> PricingTable:
        for backend, tiers in self.backends.items():
            for quality, roles in tiers.items():
                for role, name in roles.items():
                    if name not in self.models:
                        raise ValueError(
                            f"backends.{backend}.{quality}.{role}: no model {name!r} in [models]"
                        )
        for name, entry in self.models.items():
            if entry.unit == "gpu_second" and entry.hardware not in self.hardware:
                raise ValueError(f"models.{name}: no hardware {entry.hardware!r} in [hardware]")
        return self

    def price(self, model: str, unit: Unit) -> float:
        entry = self.models[model]
        if entry.unit == "gpu_second":
            assert entry.hardware is not None
            return self.hardware[entry.hardware]
        if entry.unit == unit and entry.price_usd is not None:
            return entry.price_usd
        if unit in entry.prices:
            return entry.prices[unit]
        raise PricingError(f"model {model!r} has no price per {unit}")

    def tier(self, backend: str, quality: Quality) -> dict[Role, str]:
        try:
            return self.backends[backend][quality]
        except KeyError:
            raise PricingError(f"no {quality!r} models for backend {backend!r}") from None


def load_pricing(path: Path | str) -> PricingTable:
    """Read and check a pricing table; PricingError says what is wrong and where."""
    try:
        raw: dict[str, Any] = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return PricingTable.model_validate(raw)
    except OSError as exc:
        raise PricingError(f"cannot read pricing table {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PricingError(f"{path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'table'}: {e['msg']}" for e in exc.errors()
        )
        raise PricingError(f"{path}: {problems}") from exc


class PricingSource:
    """The table in a file, re-read when the file changes. A broken edit is logged and
    the last good table stays in use, so a typo cannot stop quoting."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._table = load_pricing(path)
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int]:
        stat = self.path.stat()
        return stat.st_mtime_ns, stat.st_size

    def table(self) -> PricingTable:
        try:
            stamp = self._file_stamp()
        except OSError as exc:
            log.error("pricing.unreadable", extra={"path": str(self.path), "error": repr(exc)})
            return self._table
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._table = load_pricing(self.path)
                log.info("pricing.reloaded", extra={"pricing_version": self._table.version})
            except PricingError as exc:
                log.error("pricing.invalid", extra={"error": str(exc)})
        return self._table
