"""End to end on the replicate backend against the fake Replicate server: brief →
storyboard (LLM + frames) → approve → render (model clips + local composition) →
final.mp4, every paid call billed exactly once, the estimate close to the actual cost; and
jobs that fail on the provider's side fail fast with its message."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import nats
import nats.errors
import pytest

from services.billing.__main__ import serve as serve_billing
from services.billing.pricing import DEFAULT_PRICING_FILE, load_pricing
from shared.providers.local.planner import scene_count
from shared.tracing import job_trace_id
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import (
    TOKEN,
    creates_by_model,
    duplicated_creates,
    replicate_settings,
    started_fake,
)
from tests.support.spans import recording_spans
from tests.support.system import System, running_system
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate, Faults

PRICES = load_pricing(DEFAULT_PRICING_FILE)
LLM = "meta/meta-llama-3-70b-instruct"
FRAMES = "black-forest-labs/flux-schnell"
CLIPS = "wan-video/wan-2.1-i2v-480p"
VOICE = "minimax/speech-02-hd"
# What each model's prediction is billed in (pricing.toml): the charges a subscriber sees.
KINDS = {
    LLM: {"input_token", "output_token"},
    FRAMES: {"image"},
    CLIPS: {"video_second"},
    VOICE: {"character"},
}


@contextlib.asynccontextmanager
async def replicate_system(
    nats_server: NatsServer, root: Path, fake: FakeReplicate, **overrides: Any
) -> AsyncIterator[System]:
    """Gateway, storyboard, renderer, assets and billing on the replicate backend."""
    settings = replicate_settings(fake, **overrides)
    async with running_system(nats_server.url, root, **settings) as system:
        system._start(serve_billing, "billing", {"database_path": root / "billing.db"})
        yield system


async def submit(system: System, **fields: Any) -> dict[str, Any]:
    """POST /jobs once billing answers (it starts with the test)."""
    brief = {
        "campaign_id": "spring-launch",
        "prompt": "Introducing Glow Serum. Brightens skin in 7 days. Vegan and cruelty free.",
        "platform": "tiktok",
        "duration_s": 15,
        "brand": {"colors": ["#ff3366", "#1a1a2e"], "tone": "playful"},
        "call_to_action": "Shop Glow today",
        **fields,
    }
    status, job, _ = await eventually(
        lambda: system.call("POST", "/api/v2/jobs", json=brief),
        lambda answer: answer[0] != 503,
        timeout_s=30,
    )
    assert status == 202, job
    return job  # type: ignore[no-any-return]


async def cost_events_as_the_billing_team_reads_them(
    nats_url: str,
) -> tuple[int, dict[str, dict[str, Any]]]:
    """A subscriber written as the billing team would: a JetStream consumer on the BILLING
    stream, `billing.cost.recorded` only, de-duplicated by message id. Returns the number
    of messages read and the charges by id."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("billing.cost.recorded", stream="BILLING")
        read, charges = 0, {}
        while True:
            try:
                messages = await sub.fetch(100, timeout=1)
            except (nats.errors.TimeoutError, TimeoutError):
                break
            for msg in messages:
                read += 1
                envelope = json.loads(msg.data)
                assert msg.headers and msg.headers["Nats-Msg-Id"] == envelope["id"]
                charges.setdefault(envelope["id"], envelope["data"])
                await msg.ack()
        return read, charges
    finally:
        await nc.close()


async def test_a_brief_becomes_a_video_made_by_models_and_every_call_is_billed_once(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with recording_spans() as recorder:
        await _brief_to_video_billed_once(nats_server, tmp_path)
        spans = list(recorder.get_finished_spans())

    # Every model call is a client span in the job's trace, and each of its HTTP requests
    # to Replicate (create, polls, download) a child of it.
    job_ids = {
        s.attributes.get("reelsmith.job_id")
        for s in spans
        if s.name.startswith("replicate.predict")
    }
    assert len(job_ids) == 1
    trace_id = job_trace_id(str(job_ids.pop()))
    predicts = {s.context.span_id: s for s in spans if s.name.startswith("replicate.predict")}
    assert {s.name for s in predicts.values()} == {
        "replicate.predict script",
        "replicate.predict frame",
        "replicate.predict clip",
        "replicate.predict voice",
    }
    assert all(s.context.trace_id == trace_id for s in predicts.values())
    requests = [s for s in spans if s.name in ("replicate create", "replicate get")]
    assert requests and all(s.parent and s.parent.span_id in predicts for s in requests)


async def _brief_to_video_billed_once(nats_server: NatsServer, tmp_path: Path) -> None:
    async with started_fake() as fake, replicate_system(nats_server, tmp_path, fake) as system:
        # A brief on the replicate backend is accepted with its estimate.
        job = await submit(system)
        assert job["estimated_cost"] > 0

        # The LLM writes the script and the image model draws one frame per scene.
        job = await system.wait_status(job["id"], "storyboard_ready", timeout_s=60)
        scenes = job["storyboard"]["scenes"]
        count = scene_count(15)
        assert len(scenes) == count  # the scene_count asked of the LLM for 15 s
        assert sum(s["duration_s"] for s in scenes) == pytest.approx(15)
        assert scenes[0]["beat"] == "hook" and scenes[-1]["beat"] == "cta"
        storage = Path(system.settings.video_storage_path)
        for scene in scenes:
            with av.open(str(storage / scene["image_key"])) as frame:
                assert frame.streams.video[0].codec_context.name == "mjpeg"

        # Approved and rendered: one model clip per scene, composed locally with the voice.
        status, _, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")
        assert status == 200
        status, _, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
        assert status == 202
        job = await system.wait_status(job["id"], "completed", timeout_s=90)
        videos = storage / "videos" / job["id"]
        assert len(list((videos / "clips" / "source").glob("scene_*.mp4"))) == count
        assert list(videos.glob("voice.*"))
        with av.open(str(videos / "final.mp4")) as final:
            assert abs(float(final.duration) / av.time_base - 15) <= 0.2
            assert final.streams.video and final.streams.audio
            assert sum(1 for _ in final.decode(video=0)) > 0

        # The fake made exactly the predictions the job needed, none twice.
        assert creates_by_model(fake) == {LLM: 1, FRAMES: count, CLIPS: count, VOICE: 1}
        assert duplicated_creates(fake) == []

        # The billing team's subscriber receives every paid call once after de-duplication,
        # with the units the provider reported, priced from the table.
        read, charges = await cost_events_as_the_billing_team_reads_them(nats_server.url)
        assert read == len(charges)  # each charge was published once (ids derived)
        billed = {(c["prediction_id"], c["kind"]) for c in charges.values()}
        expected = {
            (record.id, kind)
            for record in fake.predictions.values()
            for kind in KINDS[record.model]
        }
        assert billed == expected
        for charge in charges.values():
            record = fake.predictions[charge["prediction_id"]]
            assert charge["job_id"] == job["id"] and charge["client_id"] == "client-a"
            assert charge["model"] == record.model and charge["outcome"] == "succeeded"
            assert charge["unit_price_usd"] == PRICES.price(record.model, charge["unit"])
            assert charge["amount_usd"] == pytest.approx(
                charge["units"] * charge["unit_price_usd"], abs=1e-6
            )
            reported = {
                "video_second": record.metrics.get("video_output_duration_seconds"),
                "input_token": record.metrics.get("input_token_count"),
                "output_token": record.metrics.get("output_token_count"),
                "image": record.metrics.get("image_count"),
                "character": record.metrics.get("input_character_count"),
            }[charge["kind"]]
            assert charge["units"] == pytest.approx(reported)

        # The job's actual cost is the ledger's sum, within 20% of the estimate.
        total = sum(c["amount_usd"] for c in charges.values())
        job = await eventually(
            lambda: system.job(job["id"]),
            lambda j: j["actual_cost"] is not None and abs(j["actual_cost"] - total) < 1e-4,
        )
        assert abs(job["actual_cost"] - job["estimated_cost"]) <= 0.2 * job["estimated_cost"]


async def test_a_content_policy_refusal_fails_the_job_without_a_retry(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with started_fake() as fake, replicate_system(nats_server, tmp_path, fake) as system:
        # The provider refuses every request as sensitive (E005).
        fake.set_faults(Faults(content_policy_fraction=1.0))
        job = await submit(system)
        job = await system.wait_status(job["id"], "failed", timeout_s=60)
        assert "content policy" in job["error_message"]
        assert "E005" in job["error_message"]
        # Not retried with another seed: the script's one prediction, and nothing after it.
        assert creates_by_model(fake) == {LLM: 1}
        assert [r.status for r in fake.predictions.values()] == ["failed"]


async def test_an_account_without_credit_fails_fast_with_the_providers_message(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with started_fake() as fake, replicate_system(nats_server, tmp_path, fake) as system:
        fake.set_faults(Faults(insufficient_credit=True))
        job = await submit(system)
        started = asyncio.get_running_loop().time()
        job = await system.wait_status(job["id"], "failed", timeout_s=30)
        # Not retried: the 402 and its detail reach the client, the token does not.
        assert asyncio.get_running_loop().time() - started < 10
        assert "402" in job["error_message"]
        assert "insufficient credit" in job["error_message"].lower()
        assert TOKEN not in job["error_message"]
        assert fake.stats()["creates_total"] == 0
