"""A prediction's cost from what the provider reported, priced by billing's table: one
charge per billing unit, for succeeded, failed and canceled predictions alike."""

from __future__ import annotations

import pytest

from services.billing.pricing import DEFAULT_PRICING_FILE, load_pricing
from shared.providers.replicate.costs import CostContext, cost_events
from shared.providers.replicate.prediction import PredictionState

TABLE = load_pricing(DEFAULT_PRICING_FILE)
CONTEXT = CostContext(job_id="job-1", client_id="client-a", stage="render", scene=2)


def _state(model: str, **fields: object) -> PredictionState:
    values: dict[str, object] = {
        "id": "p1",
        "model": model,
        "status": "succeeded",
        "completed_at": "2026-05-01T12:00:00.000Z",
    }
    values.update(fields)
    return PredictionState.of(values)


def test_images_are_billed_per_image_returned() -> None:
    state = _state("black-forest-labs/flux-schnell", output=["https://r/a.jpg", "https://r/b.jpg"])
    [charge] = cost_events(state, CONTEXT, TABLE)
    assert (charge.unit, charge.units, charge.amount_usd) == ("image", 2, pytest.approx(0.006))
    # The provider's own count, when reported, wins.
    state = _state("black-forest-labs/flux-schnell", output=["x"], metrics={"image_count": 3})
    assert cost_events(state, CONTEXT, TABLE)[0].units == 3


def test_video_is_billed_per_second_of_output() -> None:
    state = _state(
        "wan-video/wan-2.1-i2v-480p",
        output="https://r/out.mp4",
        metrics={"video_output_duration_seconds": 5.0625},
    )
    [charge] = cost_events(state, CONTEXT, TABLE)
    assert charge.unit == "video_second" and charge.units == pytest.approx(5.0625)
    assert charge.amount_usd == pytest.approx(5.0625 * 0.09)
    assert (charge.stage, charge.scene, charge.outcome) == ("render", 2, "succeeded")
    # Not reported: the length we measured on the downloaded clip.
    bare = _state("wan-video/wan-2.1-i2v-480p", output="https://r/out.mp4")
    measured = CostContext(
        job_id="job-1", client_id="c", stage="render", measured={"video_second": 5.0}
    )
    assert cost_events(bare, measured, TABLE)[0].units == 5.0


def test_an_llm_call_is_two_charges_input_and_output_tokens() -> None:
    state = _state(
        "meta/meta-llama-3-70b-instruct",
        output=["{", "}"],
        metrics={"input_token_count": 1000, "output_token_count": 500},
    )
    charges = cost_events(state, CONTEXT, TABLE)
    assert {(c.unit, c.units) for c in charges} == {("input_token", 1000), ("output_token", 500)}
    assert sum(c.amount_usd for c in charges) == pytest.approx(1000 * 0.65e-6 + 500 * 2.75e-6)
    # Two charges of one prediction: different idempotency keys and event ids.
    assert len({c.event_id for c in charges}) == 2


def test_voice_is_billed_per_character() -> None:
    state = _state("minimax/speech-02-hd", input={"text": "Hello there"}, output="https://r/v.mp3")
    [charge] = cost_events(state, CONTEXT, TABLE)
    assert (charge.unit, charge.units) == ("character", 11)
    state = _state("minimax/speech-02-hd", metrics={"input_character_count": 40}, output="x")
    assert cost_events(state, CONTEXT, TABLE)[0].units == 40


def test_hardware_billed_models_pay_predict_time_even_when_failed() -> None:
    state = _state("meta/musicgen", status="failed", metrics={"predict_time": 12.5})
    [charge] = cost_events(state, CONTEXT, TABLE)
    assert charge.unit == "gpu_second" and charge.hardware == "nvidia-a100-80gb"
    assert charge.amount_usd == pytest.approx(12.5 * 0.0014)
    assert charge.outcome == "failed"


def test_a_call_that_cost_nothing_sends_nothing() -> None:
    # A canceled clip made no video; a failed image returned none.
    canceled = _state("kwaivgi/kling-v1.6-pro", status="canceled", output=None)
    assert cost_events(canceled, CONTEXT, TABLE) == []
    failed = _state("black-forest-labs/flux-schnell", status="failed", output=None)
    assert cost_events(failed, CONTEXT, TABLE) == []


def test_the_same_prediction_always_gives_the_same_event_ids() -> None:
    state = _state("black-forest-labs/flux-schnell", output=["x"])
    first = cost_events(state, CONTEXT, TABLE)[0]
    again = cost_events(state, CONTEXT, TABLE)[0]
    assert first.event_id == again.event_id
    assert first.idempotency_key == "replicate:p1:image"


def test_an_unpriced_model_is_an_error_not_a_free_call() -> None:
    with pytest.raises(KeyError):
        cost_events(_state("someone/unknown-model", output=["x"]), CONTEXT, TABLE)
