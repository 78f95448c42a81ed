"""What a prediction cost, from what the provider reported: one `billing.cost.recorded`
charge per billing unit of the model (an LLM's input and output tokens are two).

Units come from the response, never from the plan: images returned, seconds of output
video, tokens, characters, or `metrics.predict_time` for models billed by hardware time.
Prices come from billing's pricing table (passed in as `Prices`, so this module holds
no price and no pricing logic of its own).

Example::

    charges = cost_events(state, CostContext(job_id=j, client_id=c, stage="render", scene=2),
                          prices)
    for charge in charges:
        await bus.publish(charge.envelope(job_id=j, client_id=c, event_id=charge.event_id))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from shared.billing import CostRecorded, Outcome, Unit
from shared.events import utc_now
from shared.providers.replicate.client import parse_time
from shared.providers.replicate.prediction import PredictionState

PROVIDER = "replicate"

# Fake-only metric names (the real API's are not documented) next to the real ones.
IMAGE_COUNT = "image_count"
VIDEO_SECONDS = "video_output_duration_seconds"
INPUT_TOKENS = "input_token_count"
OUTPUT_TOKENS = "output_token_count"
CHARACTERS = "input_character_count"
PREDICT_TIME = "predict_time"


class PriceEntry(Protocol):
    @property
    def units(self) -> tuple[Unit, ...]: ...

    @property
    def hardware(self) -> str | None: ...

    @property
    def clip_lengths_s(self) -> list[float] | None: ...


class Prices(Protocol):
    """The pricing table (`shared.pricing.PricingTable`)."""

    @property
    def version(self) -> str: ...

    @property
    def models(self) -> Mapping[str, PriceEntry]: ...

    def price(self, model: str, unit: Unit) -> float: ...

    def tier(self, backend: str, quality: Any) -> Mapping[Any, str]: ...


@dataclass(frozen=True)
class CostContext:
    job_id: str
    client_id: str
    stage: str
    scene: int | None = None
    # Units we measured ourselves (e.g. the probed length of a clip), used when the
    # response does not report them.
    measured: Mapping[str, float] = field(default_factory=dict)


def output_count(output: Any) -> int:
    if output is None:
        return 0
    if isinstance(output, list | tuple):
        return sum(1 for item in output if item)
    return 1


def _metric(metrics: Mapping[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def billed_units(unit: Unit, state: PredictionState, measured: Mapping[str, float]) -> float:
    """Units of `unit` the prediction is billed for, from its response."""
    metrics = state.metrics
    if unit == "image":
        counted = _metric(metrics, IMAGE_COUNT)
        return counted if counted is not None else float(output_count(state.output))
    if unit == "video":
        return float(output_count(state.output))
    if unit == "video_second":
        seconds = _metric(metrics, VIDEO_SECONDS)
        if seconds is None and state.status == "succeeded":
            seconds = measured.get("video_second")
        return seconds or 0.0
    if unit == "input_token":
        return _metric(metrics, INPUT_TOKENS) or 0.0
    if unit == "output_token":
        return _metric(metrics, OUTPUT_TOKENS) or 0.0
    if unit == "character":
        counted = _metric(metrics, CHARACTERS)
        if counted is not None:
            return counted
        text = (state.input or {}).get("text")
        return float(len(text)) if isinstance(text, str) and state.status != "aborted" else 0.0
    return _metric(metrics, PREDICT_TIME) or 0.0  # gpu_second


def outcome_of(status: str) -> Outcome:
    if status in ("succeeded", "failed"):
        return cast(Outcome, status)
    return "canceled"


def cost_events(state: PredictionState, context: CostContext, prices: Prices) -> list[CostRecorded]:
    """One charge per billing unit of the model with units > 0 (a call that cost
    nothing sends nothing). The event id derives from prediction id + unit."""
    entry = prices.models.get(state.model)
    if entry is None:
        raise KeyError(f"no price for model {state.model!r} in the pricing table")
    occurred_at: datetime = parse_time(state.completed_at) or utc_now()
    charges = []
    for unit in entry.units:
        units = round(billed_units(unit, state, context.measured), 6)
        if units <= 0:
            continue
        price = prices.price(state.model, unit)
        charges.append(
            CostRecorded(
                job_id=context.job_id,
                client_id=context.client_id,
                stage=context.stage,
                scene=context.scene,
                provider=PROVIDER,
                model=state.model,
                prediction_id=state.id,
                unit=unit,
                units=units,
                hardware=entry.hardware if unit == "gpu_second" else None,
                unit_price_usd=price,
                amount_usd=round(units * price, 6),
                outcome=outcome_of(state.status),
                occurred_at=occurred_at,
            )
        )
    return charges
