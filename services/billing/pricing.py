"""Pricing: quotes built from a brief and the pricing table.

The table itself (its data model, `load_pricing`, `PricingSource`, the reviewed
`shared/pricing.toml`) is in `shared.pricing`, since the workers read it too; it is
re-exported here for billing's callers. Pure and synchronous (the file is read by
`load_pricing`, once per change), so a quote is tested directly. How each role's units
are estimated is described in pricing.toml.

Example::

    table = load_pricing(DEFAULT_PRICING_FILE)
    estimate = quote(request, "replicate", table)
    print(estimate.estimated_cost, [i.model for i in estimate.line_items])
"""

from __future__ import annotations

import math
import typing
from collections.abc import Sequence
from dataclasses import dataclass

from shared.billing import CommitStage, LineItem, Quote, Role, Unit
from shared.models import GenerationRequest
from shared.pricing import (
    DEFAULT_PRICING_FILE,
    Assumptions,
    ModelPrice,
    PricingError,
    PricingSource,
    PricingTable,
    load_pricing,
)
from shared.providers.local.planner import beats, durations, scene_count

__all__ = [
    "DEFAULT_PRICING_FILE",
    "ROLES",
    "STAGE_OF_ROLE",
    "Assumptions",
    "ModelPrice",
    "PricingError",
    "PricingSource",
    "PricingTable",
    "Work",
    "billed_clip_seconds",
    "load_pricing",
    "plan_durations",
    "quote",
    "refine_quote",
    "role_work",
    "units_of",
]

# Money is reserved per stage (see budget commits): the storyboard stage writes the script
# and draws frames; the render stage makes clips and the voice-over. A refinement
# (`refine_quote`) rewrites one scene and draws its frame again: the storyboard's roles,
# for one scene.
STAGE_OF_ROLE: dict[Role, CommitStage] = {
    "script": "storyboard",
    "frame": "storyboard",
    "clip": "render",
    "voice": "render",
}
ROLES: tuple[Role, ...] = typing.get_args(Role)


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
    items = _line_items(request, backend, table, scenes, lambda role: STAGE_OF_ROLE[role])
    return _quote_of(request, backend, table, scenes, items)


def refine_quote(
    request: GenerationRequest, backend: str, table: PricingTable, scene_duration_s: float
) -> Quote:
    """The estimate of refining one scene of `scene_duration_s`: its script rewritten and
    its frame drawn again (the storyboard stage's roles, for that scene alone)."""
    storyboard_roles = {role for role, stage in STAGE_OF_ROLE.items() if stage == "storyboard"}
    items = [
        item
        for item in _line_items(request, backend, table, [scene_duration_s], lambda _: "refine")
        if item.role in storyboard_roles
    ]
    return _quote_of(request, backend, table, [scene_duration_s], items)


def _line_items(
    request: GenerationRequest,
    backend: str,
    table: PricingTable,
    scenes: list[float],
    stage_of: typing.Callable[[Role], CommitStage],
) -> list[LineItem]:
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
                    stage=stage_of(role),
                    model=model_name,
                    unit=unit,
                    units=round(units, 3),
                    unit_price_usd=price,
                    amount_usd=round(units * price, 6),
                    detail=work.detail,
                )
            )
    return items


def _quote_of(
    request: GenerationRequest,
    backend: str,
    table: PricingTable,
    scenes: list[float],
    items: list[LineItem],
) -> Quote:
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
