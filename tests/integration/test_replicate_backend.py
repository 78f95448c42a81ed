"""The replicate backend on its own (real nats-server, the fake Replicate server): what it
does when the provider throttles, errs, fails, hangs, answers nonsense or refuses the
token, and how it avoids paying twice."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from services.billing.pricing import DEFAULT_PRICING_FILE, PricingSource
from services.renderer.footage import FootageMaker
from shared.bus import Bus
from shared.models import GenerationRequest, Scene, Storyboard
from shared.providers.base import ClipSpec, FrameSpec, WorkRef
from shared.providers.local.planner import scene_count
from shared.providers.replicate.backend import ReplicateBackend
from shared.providers.replicate.checkpoints import RATE_BUCKET, RATE_KEEP_S
from shared.providers.replicate.errors import (
    PredictionFailed,
    PredictionTimedOut,
    ProviderRejected,
    ScriptInvalid,
)
from shared.providers.replicate.limiter import KvWindow
from shared.providers.replicate.outputs import image_data_uri, last_frame_jpeg
from shared.settings import Settings
from shared.storage import LocalStorage
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import (
    TOKEN,
    creates_by_model,
    duplicated_creates,
    replicate_settings,
    started_fake,
)
from tests.support.system import delete_streams
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate, Faults

LLM = "meta/meta-llama-3-70b-instruct"
FRAMES = "black-forest-labs/flux-schnell"
CLIPS = "wan-video/wan-2.1-i2v-480p"
REQUEST = GenerationRequest(
    campaign_id="c", prompt="Introducing Glow Serum. Vegan.", platform="tiktok", duration_s=15
)


@contextlib.asynccontextmanager
async def backend_on(
    nats_server: NatsServer, fake: FakeReplicate, **overrides: Any
) -> AsyncIterator[ReplicateBackend]:
    """A backend as a worker process builds it: bus, streams, key-value buckets."""
    settings = Settings(nats_url=nats_server.url, **replicate_settings(fake, **overrides))
    bus = await Bus.connect(settings.nats_url, service="test-backend")
    await bus.ensure_streams()
    backend = await ReplicateBackend.open(settings, bus, PricingSource(DEFAULT_PRICING_FILE).table)
    try:
        yield backend
    finally:
        await backend.close()
        await bus.close()


@pytest.fixture(autouse=True)
async def _clean_streams(nats_server: NatsServer) -> AsyncIterator[None]:
    yield
    await delete_streams(nats_server.url)


def scene(index: int, duration_s: float = 4.0) -> Scene:
    return Scene(
        index=index,
        script=f"Line {index}.",
        caption=f"Caption {index}",
        visual_prompt=f"hero shot {index} of a serum bottle",
        duration_s=duration_s,
    )


def frame_spec(index: int, job_id: str = "job-1") -> FrameSpec:
    return FrameSpec(
        job_id=job_id,
        request=REQUEST,
        scene=scene(index),
        scene_count=3,
        size=(108, 192),
        work=WorkRef(job_id, "client-a", "storyboard"),
    )


def start_image(rgb: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (108, 192), rgb).save(out, "JPEG")
    return out.getvalue()


def clip_spec(index: int, dest: Path, job_id: str = "job-1") -> ClipSpec:
    work = WorkRef(job_id, "client-a", "render")
    return ClipSpec(work, REQUEST, scene(index), 1, start_image(), dest / f"scene_{index}.mp4")


async def test_throttling_and_server_errors_are_ridden_out_without_paying_twice(
    nats_server: NatsServer,
) -> None:
    async with started_fake() as fake, backend_on(nats_server, fake) as backend:
        # A storm: many creates and polls throttled, 5xx on creates (some after the
        # prediction was made), polls and downloads.
        fake.set_faults(
            Faults(
                create_429_fraction=0.5,
                get_429_fraction=0.3,
                create_5xx_fraction=0.3,
                create_5xx_creates=True,
                get_5xx_fraction=0.2,
                download_5xx_fraction=0.3,
                retry_after_s=0,
            )
        )
        storyboard = await backend.plan_storyboard("job-1", REQUEST, WorkRef("job-1", "client-a"))
        frames = await asyncio.gather(*(backend.generate_frame(frame_spec(n)) for n in (1, 2, 3)))

        # Everything came through, each prediction made once (a create answered 5xx after
        # the fact was found among the recent predictions, not created again).
        assert len(storyboard.scenes) == scene_count(REQUEST.duration_s)
        assert all(f.startswith(b"\xff\xd8") for f in frames)
        faults = fake.stats()["faults_injected"]
        assert sum(faults.values()) >= 3, faults
        assert creates_by_model(fake) == {LLM: 1, FRAMES: 3}
        assert duplicated_creates(fake) == []


async def test_a_failed_prediction_is_tried_once_more_with_a_new_seed(
    nats_server: NatsServer,
) -> None:
    async with (
        started_fake(latency_scale=0.05) as fake,
        backend_on(nats_server, fake) as backend,
    ):
        # Failing for good: two attempts, then a clear error.
        fake.set_faults(Faults(failed_fraction=1.0))
        with pytest.raises(PredictionFailed, match=r"frame model .* failed: .*after 2 attempts"):
            await backend.generate_frame(frame_spec(1))
        assert creates_by_model(fake) == {FRAMES: 2}

        # Failing once: the second attempt, with another seed, gives the frame.
        drawing = asyncio.create_task(backend.generate_frame(frame_spec(2)))
        await eventually(lambda: _count(fake), lambda n: n == 3, interval_s=0.005)
        fake.set_faults(Faults())
        assert (await drawing).startswith(b"\xff\xd8")
        second = [
            r for r in fake.predictions.values() if r.input["prompt"].startswith("hero shot 2")
        ]
        assert [r.status for r in second] == ["failed", "succeeded"]
        assert second[0].input["seed"] != second[1].input["seed"]


async def test_a_hanging_prediction_is_canceled_upstream_at_its_deadline(
    nats_server: NatsServer,
) -> None:
    async with (
        started_fake() as fake,
        backend_on(nats_server, fake, replicate_frame_deadline_s=0.6) as backend,
    ):
        # Never finishing: canceled at the deadline, tried again, canceled again.
        fake.set_faults(Faults(hanging_fraction=1.0))
        with pytest.raises(PredictionTimedOut, match=r"did not finish within 0.6 s"):
            await backend.generate_frame(frame_spec(1))
        assert [r.status for r in fake.predictions.values()] == ["canceled", "canceled"]
        assert fake.stats()["cancels"] == 2

        # Hanging once: the retry finishes.
        drawing = asyncio.create_task(backend.generate_frame(frame_spec(2)))
        await eventually(lambda: _count(fake), lambda n: n == 3, interval_s=0.005)
        fake.set_faults(Faults())
        assert (await drawing).startswith(b"\xff\xd8")
        assert [r.status for r in fake.predictions.values()][2:] == ["canceled", "succeeded"]


async def test_a_malformed_script_is_repaired_and_an_invalid_one_asked_again_then_failed(
    nats_server: NatsServer,
) -> None:
    async with started_fake() as fake, backend_on(nats_server, fake) as backend:
        # JSON inside a code fence with chatter around it: repaired, no second request.
        fake.set_faults(Faults(llm_malformed_fraction=1.0))
        storyboard = await backend.plan_storyboard("job-1", REQUEST, WorkRef("job-1", "client-a"))
        scenes = storyboard.scenes
        assert len(scenes) == scene_count(REQUEST.duration_s)
        assert sum(s.duration_s for s in scenes) == pytest.approx(15)
        assert creates_by_model(fake) == {LLM: 1}

        # Prose instead of JSON, twice: asked again naming the problem, then a clear error.
        fake.set_faults(Faults(llm_invalid_fraction=1.0))
        with pytest.raises(ScriptInvalid, match="did not return a valid storyboard"):
            await backend.plan_storyboard("job-2", REQUEST, WorkRef("job-2", "client-a"))
        asked = [r for r in fake.predictions.values() if r.seq > 1]
        assert len(asked) == 2
        assert "could not be used: the answer is not JSON" in asked[1].input["prompt"]


async def test_a_scene_is_refined_by_the_llm_and_redrawn(nats_server: NatsServer) -> None:
    async with started_fake() as fake, backend_on(nats_server, fake) as backend:
        # The client's feedback goes to the LLM with the scene; the answer keeps its timing.
        work = WorkRef("job-1", "client-a", "refine")
        original = scene(2, duration_s=4.5)
        refined = await backend.refine_scene(
            "job-1", REQUEST, original, "more energy", work, scene_count=3
        )
        assert (refined.index, refined.duration_s, refined.revision) == (2, 4.5, 2)
        assert refined.visual_prompt != original.visual_prompt
        [asked] = fake.predictions.values()
        assert "feedback: more energy" in asked.input["prompt"]

        # Its new frame is a new prediction (revision 2), not the first frame's.
        spec = frame_spec(2)
        spec = FrameSpec(**{**spec.__dict__, "scene": refined, "work": work})
        assert (await backend.generate_frame(spec)).startswith(b"\xff\xd8")
        assert creates_by_model(fake) == {LLM: 1, FRAMES: 1}


async def test_an_expired_output_is_made_again_not_lost(nats_server: NatsServer) -> None:
    async with (
        started_fake(output_ttl_s=0.5) as fake,
        backend_on(nats_server, fake) as backend,
    ):
        # A frame is made and fetched at once, inside the output's lifetime.
        assert (await backend.generate_frame(frame_spec(1))).startswith(b"\xff\xd8")
        [first] = fake.predictions.values()
        await eventually(
            lambda: backend.api.get(first.id, FRAMES), lambda p: p.output is None, interval_s=0.05
        )

        # Asked again later (a redelivery), the checkpointed prediction has lost its output:
        # a new prediction makes the frame rather than the stage failing.
        assert (await backend.generate_frame(frame_spec(1))).startswith(b"\xff\xd8")
        assert creates_by_model(fake) == {FRAMES: 2}
        assert [r.status for r in fake.predictions.values()] == ["succeeded", "succeeded"]
        assert first.data_removed


async def test_a_refused_token_fails_at_once_with_the_providers_words(
    nats_server: NatsServer,
) -> None:
    async with (
        started_fake() as fake,
        backend_on(nats_server, fake, replicate_api_token="r8_wrong_token_0123456789") as backend,
    ):
        with pytest.raises(ProviderRejected) as refused:
            await backend.generate_frame(frame_spec(1))
        message = str(refused.value)
        assert "401" in message and "authentication token" in message
        assert "r8_wrong_token" not in message and TOKEN not in message
        # One request, not a retry loop.
        assert fake.stats()["responses_by_status"] == {"401": 1}


async def test_a_replacement_replica_reattaches_to_the_prediction_in_flight(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with (
        started_fake(latency_scale=0.03) as fake,
        backend_on(nats_server, fake) as first,
        backend_on(nats_server, fake) as second,
    ):
        # The first replica creates the clip's prediction and dies while following it.
        dying = asyncio.create_task(first.generate_clip(clip_spec(1, tmp_path)))
        await eventually(lambda: _polled(fake), lambda n: n == 1, interval_s=0.005)
        dying.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dying
        assert not next(iter(fake.predictions.values())).terminal

        # The second finds the checkpoint and follows the same prediction to the end.
        made = await second.generate_clip(clip_spec(1, tmp_path))
        assert made.path.is_file() and made.duration_s == pytest.approx(81 / 16, abs=0.07)
        assert creates_by_model(fake) == {CLIPS: 1}


async def test_two_replicas_given_the_same_clip_at_once_pay_for_one_prediction(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # A redelivered render message (its ack wait ran out during an outage) runs on two
    # replicas at the same time: both reach the same scene with no checkpoint yet.
    async with (
        started_fake(latency_scale=0.03) as fake,
        backend_on(nats_server, fake) as first,
        backend_on(nats_server, fake) as second,
    ):
        made = await asyncio.gather(
            first.generate_clip(clip_spec(1, tmp_path / "a")),
            second.generate_clip(clip_spec(1, tmp_path / "b")),
        )
        # One create; the replica that lost the claim followed the winner's prediction.
        assert creates_by_model(fake) == {CLIPS: 1}
        assert all(clip.path.is_file() for clip in made)


async def test_canceling_a_job_cancels_its_predictions_upstream(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with started_fake(latency_scale=0.05) as fake, backend_on(nats_server, fake) as backend:
        # Two clips of a job are in flight.
        clips = [
            asyncio.create_task(backend.generate_clip(clip_spec(n, tmp_path, "job-9")))
            for n in (1, 2)
        ]
        await eventually(lambda: _polled(fake), lambda n: n == 2, interval_s=0.005)

        # The job is canceled: its tasks stop and the provider stops working (and billing).
        for task in clips:
            task.cancel()
        assert await backend.cancel_job("job-9") == 2
        assert {r.status for r in fake.predictions.values()} == {"canceled"}
        assert _clips_in(tmp_path) == []


async def test_chained_clips_start_from_the_previous_clips_last_frame(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with started_fake() as fake, backend_on(nats_server, fake) as backend:
        # An approved storyboard of three scenes, their frames and plates in storage.
        storage = LocalStorage(tmp_path)
        scenes = []
        for n in (1, 2, 3):
            key, plate = (
                f"storyboards/job-1/scene_{n}.jpg",
                f"storyboards/job-1/plates/scene_{n}.jpg",
            )
            await storage.put(key, start_image((20, 20, 20)))
            await storage.put(plate, start_image())
            scenes.append(scene(n).model_copy(update={"image_key": key, "plate_key": plate}))
        request = REQUEST.model_copy(update={"chain_clips": True})
        maker = FootageMaker(storage, backend)
        progress: list[float] = []

        async def report(percent: float, _message: str) -> None:
            progress.append(percent)

        work = WorkRef("job-1", "client-a", "render")
        footage = await maker.make(work, request, Storyboard(scenes=scenes), report)

        # One clip per scene plus the voice-over; the first starts from its scene's plate
        # (not the frame with its words), each after it from the last picture of the one
        # before, so they were made in turn.
        assert sorted(footage.clips) == [(1, 1), (1, 2), (1, 3)]
        assert footage.voice is not None and footage.voice.suffix == ".mp3"
        clips = [r for r in fake.predictions.values() if r.model == CLIPS]
        assert clips[0].input["image"] == image_data_uri(start_image())
        for before, after in itertools.pairwise(clips):
            previous = footage.clips[(1, clips.index(before) + 1)]
            assert after.input["image"] == image_data_uri(last_frame_jpeg(previous))
            assert after.created_at >= before.completed_at
        assert progress[-1] == 100

        # Made again (a redelivered render): the kept footage is reused, nothing is bought.
        again = await maker.make(work, request, Storyboard(scenes=scenes), report)
        assert again.clips == footage.clips and again.voice == footage.voice
        assert creates_by_model(fake) == {CLIPS: 3, "minimax/speech-02-hd": 1}


async def test_replicas_share_the_accounts_rate_through_the_key_value_window(
    nats_server: NatsServer,
) -> None:
    # Three replicas' limiters on one shared minute counter (compare-and-set).
    buses = [await Bus.connect(nats_server.url, service=f"replica-{n}") for n in range(3)]
    try:
        windows = [KvWindow(await bus.key_value(RATE_BUCKET, ttl_s=RATE_KEEP_S)) for bus in buses]
        minute = int(time.time() // 60) + 100  # a minute of its own

        # They race for tokens: together they get exactly the limit, never more.
        grants = await asyncio.gather(
            *(windows[n % 3].take("create", minute, 5, limit=60) for n in range(30))
        )
        assert sum(grants) == 60 and all(0 <= g <= 5 for g in grants)
        assert await windows[0].take("create", minute, 5, limit=60) == 0
        # Another minute, or the other limit, starts from zero.
        assert await windows[1].take("create", minute + 1, 5, limit=60) == 5
        assert await windows[2].take("other", minute, 5, limit=60) == 5
    finally:
        for bus in buses:
            await bus.close()


def _clips_in(folder: Path) -> list[Path]:
    return list(folder.glob("*.mp4"))


async def _polled(fake: FakeReplicate) -> int:
    """Predictions followed already (polled at least once)."""
    return sum(1 for r in fake.predictions.values() if r.get_count > 0)


async def _count(fake: FakeReplicate) -> int:
    return len(fake.predictions)
