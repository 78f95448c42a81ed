"""Pricing: the table read from `pricing.toml`, and quotes built from a brief.

Pure and synchronous (the file is read by `load_pricing`, once per change), so a quote
is tested directly. How each role's units are estimated is described in pricing.toml.

Example::

    table = load_pricing(DEFAULT_PRICING_FILE)
    estimate = quote(request, "replicate", table)
    print(estimate.estimated_cost, [i.model for i in estimate.line_items])
"""

from __future__ import annotations

import math
import tomllib
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.billing import CommitStage, LineItem, Quality, Quote, Role, Unit
from shared.logging import get_logger
from shared.models import GenerationRequest
from shared.providers.local.planner import beats, durations, scene_count

log = get_logger(__name__)

DEFAULT_PRICING_FILE = Path(__file__).resolve().parent / "pricing.toml"

# Money is reserved per stage (see budget commits): the storyboard stage writes the script
# and draws frames; the render stage makes clips and the voice-over.
STAGE_OF_ROLE: dict[Role, CommitStage] = {
    "script": "storyboard",
    "frame": "storyboard",
    "clip": "render",
    "voice": "render",
}
ROLES: tuple[Role, ...] = typing.get_args(Role)


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


@dataclass(frozen=True)
class Work:
    """What one role asks of its model for a job; the model bills the parts it meters."""

    calls: int
    detail: str
    images: int = 0
    clip_seconds: tuple[float, ...] = ()
    input_tokens: int = 0
    output_tokens: int = 0
    characters: int = 0


def plan_durations(duration_s: float) -> list[float]:
    """Scene lengths of the storyboard planner for an ad of `duration_s`."""
    return durations(beats(scene_count(duration_s)), duration_s)


def role_work(
    role: Role, scenes: Sequence[float], variations: int, assumptions: Assumptions
) -> Work:
    count, total_s = len(scenes), sum(scenes)
    if role == "script":
        return Work(
            calls=1,
            input_tokens=assumptions.script_input_tokens,
            output_tokens=assumptions.script_output_tokens_per_scene * count,
            detail=f"1 call, {count} scenes",
        )
    if role == "frame":
        return Work(calls=count, images=count, detail=f"{count} frames, shared by every variation")
    if role == "clip":
        return Work(
            calls=count * variations,
            clip_seconds=tuple(scenes) * variations,
            detail=f"{count} clips × {variations} variation(s)",
        )
    characters = round(assumptions.voice_characters_per_second * total_s)
    return Work(
        calls=1,
        characters=characters,
        input_tokens=characters,
        detail=f"{total_s:g} s of voice-over, once per job",
    )


def billed_clip_seconds(model: ModelPrice, seconds: float) -> float:
    """The length a provider bills for a clip covering `seconds`."""
    if model.clip_lengths_s:
        fitting = [length for length in sorted(model.clip_lengths_s) if length >= seconds - 1e-9]
        return fitting[0] if fitting else max(model.clip_lengths_s)
    return float(math.ceil(seconds - 1e-9))


def units_of(unit: Unit, work: Work, model: ModelPrice) -> float:
    if unit == "image":
        return work.images
    if unit == "video":
        return len(work.clip_seconds)
    if unit == "video_second":
        return sum(billed_clip_seconds(model, s) for s in work.clip_seconds)
    if unit == "input_token":
        return work.input_tokens
    if unit == "output_token":
        return work.output_tokens
    if unit == "character":
        return work.characters
    assert model.predict_s is not None
    return work.calls * model.predict_s


def quote(
    request: GenerationRequest,
    backend: str,
    table: PricingTable,
    scene_durations_s: Sequence[float] | None = None,
) -> Quote:
    """The estimate for `request` on `backend`: one line per role and billing unit."""
    scenes = list(scene_durations_s) if scene_durations_s else plan_durations(request.duration_s)
    items: list[LineItem] = []
    for role, model_name in sorted(table.tier(backend, request.quality).items(), key=_role_order):
        model = table.models[model_name]
        work = role_work(role, scenes, request.variations, table.assumptions)
        for unit in model.units:
            units = units_of(unit, work, model)
            price = table.price(model_name, unit)
            items.append(
                LineItem(
                    role=role,
                    stage=STAGE_OF_ROLE[role],
                    model=model_name,
                    unit=unit,
                    units=round(units, 3),
                    unit_price_usd=price,
                    amount_usd=round(units * price, 6),
                    detail=work.detail,
                )
            )
    return Quote(
        backend=backend,
        quality=request.quality,
        pricing_version=table.version,
        scene_count=len(scenes),
        scene_durations_s=scenes,
        variations=request.variations,
        line_items=items,
        estimated_cost=round(sum(i.amount_usd for i in items), 4),
    )


def _role_order(entry: tuple[Role, str]) -> int:
    return ROLES.index(entry[0])
