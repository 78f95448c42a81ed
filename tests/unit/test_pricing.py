"""Pricing and the budget arithmetic, tested directly: the default table's quotes for the
seed's reference jobs, price changes through the data file, and the daily budget."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.billing.budget import (
    BudgetLimits,
    Exposure,
    admits,
    budget_state,
    levels_reached,
    seconds_until_midnight,
)
from services.billing.pricing import billed_clip_seconds, quote
from services.billing.settings import BillingSettings
from shared.billing import CostRecorded
from shared.models import GenerationRequest
from shared.pricing import (
    DEFAULT_PRICING_FILE,
    PricingError,
    PricingSource,
    PricingTable,
    load_pricing,
)
from shared.settings import Settings


def _request(**fields: object) -> GenerationRequest:
    values: dict[str, object] = {
        "campaign_id": "seed",
        "prompt": "Introducing Zephyr Buds. 30 hours of battery.",
        "platform": "tiktok",
        "duration_s": 30,
    }
    values.update(fields)
    return GenerationRequest.model_validate(values)


@pytest.fixture(scope="module")
def table() -> PricingTable:
    """The reviewed default table shipped with the service."""
    return load_pricing(DEFAULT_PRICING_FILE)


def _edited_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_PRICING_FILE.read_text()
    assert old in text
    path = tmp_path / "pricing.toml"
    path.write_text(text.replace(old, new))
    return path


SEED_QUOTES = [
    pytest.param({"platform": "tiktok", "duration_s": 30}, 3.00, id="30s-tiktok"),
    pytest.param(
        {"platform": "instagram_reel", "duration_s": 30, "variations": 3, "quality": "hd"},
        9.50,
        id="30s-hd-reel-x3",
    ),
    pytest.param({"platform": "youtube_short", "duration_s": 60}, 6.30, id="60s-youtube-short"),
]


@pytest.mark.parametrize(("brief", "seed_usd"), SEED_QUOTES)
def test_default_table_lands_near_the_seed_quotes(
    table: PricingTable, brief: dict[str, object], seed_usd: float
) -> None:
    # The replicate backend quotes each reference job within 15% of what the seed quoted.
    estimate = quote(_request(**brief), "replicate", table)
    assert estimate.estimated_cost == pytest.approx(seed_usd, rel=0.15)
    # The total is the sum of the line items (to 1/100 of a cent), each units x unit price.
    total = sum(i.amount_usd for i in estimate.line_items)
    assert estimate.estimated_cost == pytest.approx(total, abs=1e-4)
    for item in estimate.line_items:
        assert item.amount_usd == pytest.approx(item.units * item.unit_price_usd)


def test_line_items_follow_the_plan(table: PricingTable) -> None:
    # A 30 s HD reel in 3 variations: 7 planned scenes.
    estimate = quote(
        _request(platform="instagram_reel", variations=3, quality="hd"), "replicate", table
    )
    items = {(i.role, i.unit): i for i in estimate.line_items}
    assert estimate.scene_count == 7 and sum(estimate.scene_durations_s) == pytest.approx(30)
    assert set(items) == {
        ("script", "input_token"),
        ("script", "output_token"),
        ("frame", "image"),
        ("clip", "video_second"),
        ("voice", "character"),
    }
    # Frames are drawn once and shared; clips are made again for every variation, each
    # billed at the model's 5 s clip length.
    assert items[("frame", "image")].units == 7
    assert items[("clip", "video_second")].units == 7 * 5 * 3
    assert items[("clip", "video_second")].model == "kwaivgi/kling-v1.6-pro"
    # Storyboard and render stages split the total between them.
    assert estimate.stage_cost("storyboard") + estimate.stage_cost("render") == pytest.approx(
        estimate.estimated_cost
    )
    assert {i.stage for i in estimate.line_items if i.role in ("clip", "voice")} == {"render"}


def test_local_backend_costs_nothing(table: PricingTable) -> None:
    # The offline engine still lists what it does, at $0.
    estimate = quote(_request(variations=2, quality="hd"), "local", table)
    assert estimate.estimated_cost == 0
    assert {i.role for i in estimate.line_items} == {"frame", "clip"}


def test_storyboard_timing_overrides_the_plan(table: PricingTable) -> None:
    # An edited storyboard with two long scenes is quoted on its own scene lengths.
    estimate = quote(_request(), "replicate", table, scene_durations_s=[8.0, 7.0])
    clip = next(i for i in estimate.line_items if i.role == "clip")
    assert estimate.scene_count == 2 and clip.units == 10  # wan makes 5 s clips


def test_price_change_in_the_data_file_changes_the_quote(
    table: PricingTable, tmp_path: Path
) -> None:
    # Raising wan's price per second in a copy of the file raises the quote; no code changes.
    before = quote(_request(), "replicate", table)
    path = _edited_copy(tmp_path, "price_usd = 0.09\n", "price_usd = 0.18\n")
    after = quote(_request(), "replicate", load_pricing(path))
    assert after.estimated_cost == pytest.approx(before.estimated_cost + 35 * 0.09)


def test_model_swap_in_the_data_file_changes_the_line_items(tmp_path: Path) -> None:
    # Pointing the standard clip role at another model bills that model's unit and price.
    path = _edited_copy(
        tmp_path,
        'clip = "wan-video/wan-2.1-i2v-480p"',
        'clip = "minimax/video-01"',
    )
    estimate = quote(_request(), "replicate", load_pricing(path))
    clip = next(i for i in estimate.line_items if i.role == "clip")
    assert (clip.model, clip.unit, clip.units, clip.amount_usd) == (
        "minimax/video-01",
        "video",
        7,
        3.5,
    )


def test_hardware_billed_model_is_priced_from_the_hardware_table(tmp_path: Path) -> None:
    # A community model as the voice: predict_s x the A100's per-second rate.
    path = _edited_copy(
        tmp_path,
        'voice = "minimax/speech-02-hd"\n\n[backends.replicate.hd]',
        'voice = "meta/musicgen"\n\n[backends.replicate.hd]',
    )
    estimate = quote(_request(), "replicate", load_pricing(path))
    voice = next(i for i in estimate.line_items if i.role == "voice")
    assert (voice.unit, voice.units, voice.unit_price_usd) == ("gpu_second", 40, 0.0014)


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ('frame = "black-forest-labs/flux-schnell"', 'frame = "acme/nope"', "no model 'acme/nope'"),
        ('hardware = "nvidia-a100-80gb"', 'hardware = "tpu"', "no hardware 'tpu'"),
        ("price_usd = 0.003\n", "price_usd = -1\n", "greater than or equal to 0"),
        ('version = "', "version = ", "not valid TOML"),
    ],
)
def test_broken_table_is_refused_with_the_reason(
    tmp_path: Path, old: str, new: str, complaint: str
) -> None:
    # A typo in the table names what is wrong instead of quoting nonsense.
    with pytest.raises(PricingError, match=complaint):
        load_pricing(_edited_copy(tmp_path, old, new))


def test_unknown_backend_is_a_pricing_error(table: PricingTable) -> None:
    with pytest.raises(PricingError, match="no 'standard' models for backend 'acme'"):
        quote(_request(), "acme", table)


def test_source_reloads_an_edited_file_and_keeps_the_last_good_table(tmp_path: Path) -> None:
    # The service re-reads its file when it changes...
    path = _edited_copy(tmp_path, "price_usd = 0.09\n", "price_usd = 0.09\n")
    source = PricingSource(path)
    path.write_text(path.read_text().replace("price_usd = 0.09\n", "price_usd = 0.10\n"))
    os.utime(path, ns=(1, 1))
    assert source.table().models["wan-video/wan-2.1-i2v-480p"].price_usd == 0.10
    # ...and a broken edit leaves the last good table in use.
    path.write_text("not = [toml")
    assert source.table().models["wan-video/wan-2.1-i2v-480p"].price_usd == 0.10


@pytest.mark.parametrize(
    ("lengths", "seconds", "billed"),
    [([5], 3.6, 5), ([5], 5.3, 5), ([5, 10], 5.3, 10), ([4, 6, 8], 4.0, 4), (None, 4.2, 5)],
)
def test_clips_are_billed_at_the_length_the_model_makes(
    table: PricingTable, lengths: list[float] | None, seconds: float, billed: float
) -> None:
    model = table.models["local/motion"].model_copy(update={"clip_lengths_s": lengths})
    assert billed_clip_seconds(model, seconds) == billed


NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LIMITS = BudgetLimits(soft_usd=100, hard_usd=150)


@pytest.mark.parametrize(
    ("spent", "committed", "state", "levels"),
    [
        (10, 20, "ok", []),
        (60, 40, "soft_exceeded", ["soft"]),
        (100, 49.99, "soft_exceeded", ["soft"]),
        (90, 60, "hard_exceeded", ["soft", "hard"]),
    ],
)
def test_budget_state_counts_spent_and_committed(
    spent: float, committed: float, state: str, levels: list[str]
) -> None:
    # Money committed by running jobs counts like money spent.
    exposure = Exposure(spent_today_usd=spent, committed_usd=committed)
    budget = budget_state(exposure, LIMITS, NOON)
    assert budget.state == state and levels_reached(exposure, LIMITS) == levels
    # Past the hard limit the state tells callers when to retry: the next UTC midnight.
    assert budget.retry_after_s == (12 * 3600 if state == "hard_exceeded" else None)
    assert budget.resets_at == datetime(2026, 5, 2, tzinfo=UTC)


def test_hard_limit_admits_free_work_and_paid_work_below_it() -> None:
    below, at = Exposure(149.99, 0), Exposure(100, 50)
    assert admits(below, LIMITS, 50)  # the one job that may overshoot
    assert not admits(at, LIMITS, 0.01)
    assert admits(at, LIMITS, 0)  # the local backend is never paused


def test_retry_after_is_never_zero() -> None:
    assert seconds_until_midnight(datetime(2026, 5, 1, 23, 59, 59, 999999, tzinfo=UTC)) == 1


def test_cost_event_keys_on_provider_prediction_and_kind() -> None:
    # An LLM call billed in two units is two charges; a re-sent charge is the same one.
    def charge(kind: str = "", unit: str = "output_token") -> CostRecorded:
        return CostRecorded.model_validate(
            {
                "job_id": "j",
                "client_id": "c",
                "stage": "storyboard",
                "provider": "replicate",
                "model": "meta/meta-llama-3-70b-instruct",
                "prediction_id": "p1",
                "kind": kind,
                "unit": unit,
                "units": 10,
                "unit_price_usd": 0.1,
                "amount_usd": 1,
                "occurred_at": NOON,
            }
        )

    assert charge().idempotency_key == "replicate:p1:output_token"
    assert charge().idempotency_key != charge(unit="input_token").idempotency_key
    assert charge().event_id == charge().event_id
    assert charge(kind="retry-fee").idempotency_key == "replicate:p1:retry-fee"


def test_billing_opens_its_own_database_and_reads_its_pricing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Started with the shared settings and no DATABASE_PATH, billing never opens app.db;
    # PRICING_FILE comes from the environment.
    monkeypatch.delenv("DATABASE_PATH", raising=False)
    monkeypatch.setenv("PRICING_FILE", str(tmp_path / "prices.toml"))
    settings = BillingSettings.from_base(Settings(service_name="billing"))
    assert settings.database_path == Path("data/billing.db")
    assert settings.pricing_file == tmp_path / "prices.toml"
    assert settings.billing_migrations_path.name == "billing"
    # An explicit DATABASE_PATH wins.
    explicit = BillingSettings.from_base(Settings(database_path=tmp_path / "b.db"))
    assert explicit.database_path == tmp_path / "b.db"
