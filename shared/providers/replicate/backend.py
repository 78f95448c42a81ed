"""The `replicate` backend: an LLM writes the script, an image model draws the frames, an
image-to-video model animates each frame into a clip, a TTS model voices the script. The
model of each role and quality tier comes from billing's pricing table.

Example::

    backend = await ReplicateBackend.open(settings, bus, PricingSource(path).table)
    scenes = await backend.plan_script(job_id, request, WorkRef(job_id, client_id))
    jpeg = await backend.generate_frame(spec)
    clip = await backend.generate_clip(ClipSpec(...))
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats.errors

from shared.billing import CostRecorded
from shared.bus import Bus, TransientError
from shared.logging import get_logger
from shared.models import GenerationRequest, Scene, Storyboard
from shared.providers.base import ClipMade, ClipSpec, FrameSpec, VoiceSpec, WorkRef
from shared.providers.local.planner import scene_count
from shared.providers.replicate.checkpoints import (
    RATE_BUCKET,
    RATE_KEEP_S,
    Checkpoints,
)
from shared.providers.replicate.client import ReplicateApi
from shared.providers.replicate.costs import Prices
from shared.providers.replicate.errors import OutputInvalid, ProviderRejected, ScriptInvalid
from shared.providers.replicate.inbox import WebhookInbox
from shared.providers.replicate.limiter import KvWindow, RequestLimits
from shared.providers.replicate.models import (
    CLIP_MODELS,
    ModelInput,
    aspect_of,
    frame_input,
    script_input,
    seed_for,
    voice_input,
)
from shared.providers.replicate.outputs import (
    AUDIO_MAX_BYTES,
    IMAGE_MAX_BYTES,
    VIDEO_MAX_BYTES,
    MediaFacts,
    check_audio,
    check_video,
    fetch_output,
    image_data_uri,
    image_to_jpeg,
    output_urls,
)
from shared.providers.replicate.prediction import PredictionState
from shared.providers.replicate.predictions import Accepted, PredictionCall, PredictionRunner
from shared.providers.replicate.script import (
    ScriptAnswer,
    ScriptProblem,
    clip_prompt,
    frame_prompt,
    joined_output,
    parse_script,
    reask_prompt,
    refine_prompt,
    script_prompt,
    to_scenes,
    to_storyboard,
)
from shared.settings import Settings

log = get_logger(__name__)

BACKEND = "replicate"
AUDIO_EXTENSIONS = (".mp3", ".wav", ".flac", ".ogg", ".m4a", ".aac")
MAX_VOICE_CHARACTERS = 10_000


class ReplicateBackend:
    name = BACKEND
    # Frames are a model's pictures: the design system composes them (plate, text).
    draws_pictures = True

    def __init__(
        self,
        settings: Settings,
        api: ReplicateApi,
        runner: PredictionRunner,
        prices: Callable[[], Prices],
        inbox: WebhookInbox | None = None,
    ) -> None:
        self.settings = settings
        self.api = api
        self.runner = runner
        self.prices = prices
        self.inbox = inbox

    @classmethod
    async def open(
        cls, settings: Settings, bus: Bus, prices: Callable[[], Prices]
    ) -> ReplicateBackend:
        """Wire the backend to the bus: shared rate window, checkpoints, the webhook fast
        path, cost events."""
        window = KvWindow(await bus.key_value(RATE_BUCKET, ttl_s=RATE_KEEP_S))
        limits = RequestLimits(
            settings.replicate_create_per_minute, settings.replicate_requests_per_minute, window
        )
        api = ReplicateApi.from_settings(settings, limits)
        checkpoints = await Checkpoints.open(bus)
        inbox = await WebhookInbox.listen(bus.nc)

        async def publish_cost(charge: CostRecorded) -> None:
            event = charge.envelope(
                job_id=charge.job_id, client_id=charge.client_id, event_id=charge.event_id
            )
            try:
                await bus.publish(event)
            except (nats.errors.Error, TimeoutError) as exc:
                # Redelivered, the work re-attaches to the same prediction and re-sends
                # the same event id (de-duplicated), so nothing is lost or counted twice.
                raise TransientError(f"a cost event could not be published: {exc!r}") from exc

        runner = PredictionRunner(api, checkpoints, publish_cost, prices, settings, inbox)
        return cls(settings, api, runner, prices, inbox)

    async def close(self) -> None:
        if self.inbox is not None:
            await self.inbox.close()
        await self.api.close()

    def model_for(self, role: str, request: GenerationRequest) -> str | None:
        """The model of `role` for the request's quality tier (None: the role is off)."""
        return self.prices().tier(BACKEND, request.quality).get(role)

    def _required_model(self, role: str, request: GenerationRequest) -> str:
        model = self.model_for(role, request)
        if model is None:
            raise ProviderRejected(
                f"the pricing table names no {role} model for {request.quality} quality"
            )
        return model

    # ----------------------------------------------------------------------------- script

    async def plan_script(
        self, job_id: str, request: GenerationRequest, work: WorkRef | None = None
    ) -> list[Scene]:
        answer = await self._script_answer(job_id, request, work)
        return to_scenes(answer, request.duration_s)

    async def plan_storyboard(
        self, job_id: str, request: GenerationRequest, work: WorkRef | None = None
    ) -> Storyboard:
        answer = await self._script_answer(job_id, request, work)
        return to_storyboard(answer, request)

    async def _script_answer(
        self, job_id: str, request: GenerationRequest, work: WorkRef | None
    ) -> ScriptAnswer:
        """The LLM's storyboard for the brief (same slot either way, so `plan_script` and
        `plan_storyboard` of one job re-attach to the same prediction)."""
        work = work or WorkRef(job_id)
        model = self._required_model("script", request)
        count = scene_count(request.duration_s)
        system, prompt = script_prompt(request, count)
        return await self._ask_storyboard(
            work, model, "script", system, prompt, count, request.duration_s
        )

    async def refine_scene(
        self,
        job_id: str,
        request: GenerationRequest,
        scene: Scene,
        feedback: str,
        work: WorkRef | None = None,
        scene_count: int = 0,
    ) -> Scene:
        work = work or WorkRef(job_id, stage="refine")
        model = self._required_model("script", request)
        system, prompt = refine_prompt(request, scene, scene_count or scene.index, feedback)
        revision = scene.revision + 1
        answer = await self._ask_storyboard(
            work, model, f"refine-s{scene.index}r{revision}", system, prompt, 1, scene.duration_s
        )
        rewritten = answer.scenes[0]
        return scene.model_copy(
            update={
                "script": rewritten.script,
                "caption": rewritten.caption,
                "visual_prompt": rewritten.visual_prompt,
                "revision": revision,
            }
        )

    async def _ask_storyboard(
        self,
        work: WorkRef,
        model: str,
        slot: str,
        system: str,
        prompt: str,
        scenes: int,
        duration_s: float,
    ) -> ScriptAnswer:
        """Ask, parse (repairing once); on a bad answer ask once more naming the problem;
        ScriptInvalid if that answer is no good either."""
        text = await self._write(work, model, slot, system, prompt, scenes)
        try:
            return parse_script(text, duration_s)
        except ScriptProblem as first:
            log.warning("replicate.script_invalid", extra={"slot": slot, "problem": str(first)})
            again = reask_prompt(prompt, text, str(first))
            text = await self._write(work, model, f"{slot}-reask", system, again, scenes)
        try:
            return parse_script(text, duration_s)
        except ScriptProblem as second:
            raise ScriptInvalid(
                f"the script model ({model}) did not return a valid storyboard after a "
                f"repair and a second request: {second}"
            ) from None

    async def _write(
        self, work: WorkRef, model: str, slot: str, system: str, prompt: str, scenes: int
    ) -> str:
        def make_input(attempt: int) -> ModelInput:
            seed = seed_for(work.job_id, work.stage, slot, attempt)
            return script_input(model, system, prompt, scenes, seed)

        async def accept(state: PredictionState, _: ModelInput) -> Accepted[str]:
            text = joined_output(state.output)
            if not text.strip():
                raise OutputInvalid(f"the script model ({model}) returned no text")
            return Accepted(text)

        call = PredictionCall(
            role="script", model=model, work=work, slot=slot, make_input=make_input
        )
        return await self.runner.run(call, accept)

    # ----------------------------------------------------------------------------- frames

    async def generate_frame(self, spec: FrameSpec) -> bytes:
        work, scene, request = spec.ref, spec.scene, spec.request
        model = self._required_model("frame", request)
        aspect = aspect_of(request.platform)
        prompt = frame_prompt(request, scene)
        slot = f"s{scene.index}" if scene.revision == 1 else f"s{scene.index}r{scene.revision}"

        def make_input(attempt: int) -> ModelInput:
            seed = seed_for(work.job_id, work.stage, slot, attempt)
            return frame_input(model, prompt, aspect, seed)

        async def accept(state: PredictionState, _: ModelInput) -> Accepted[bytes]:
            urls = output_urls(state.output)
            if not urls:
                raise OutputInvalid(f"the image model ({model}) returned no image")
            data = await fetch_output(self.api, urls[0], model, IMAGE_MAX_BYTES)
            jpeg = await asyncio.to_thread(image_to_jpeg, data, spec.size)
            return Accepted(jpeg, {"image": float(len(urls))})

        call = PredictionCall(
            role="frame",
            model=model,
            work=work,
            slot=slot,
            make_input=make_input,
            scene=scene.index,
        )
        return await self.runner.run(call, accept)

    # ----------------------------------------------------------------------------- clips

    def chains_clips(self, request: GenerationRequest) -> bool:
        model = self.model_for("clip", request)
        clip_model = CLIP_MODELS.get(model or "")
        return bool(request.chain_clips and clip_model and clip_model.chains)

    async def generate_clip(self, spec: ClipSpec) -> ClipMade:
        request, scene = spec.request, spec.scene
        model = self._required_model("clip", request)
        clip_model = CLIP_MODELS.get(model)
        if clip_model is None:
            raise ProviderRejected(f"no input mapping for the clip model {model}")
        aspect = aspect_of(request.platform)
        expected_aspect = (
            aspect if clip_model.aspect_field and aspect in clip_model.aspects else None
        )
        image = await asyncio.to_thread(image_data_uri, spec.start_image)
        prompt = clip_prompt(scene)
        slot = f"v{spec.variation}s{scene.index}"

        def make_input(attempt: int) -> ModelInput:
            seed = seed_for(spec.work.job_id, spec.work.stage, slot, attempt)
            return clip_model.clip_input(image, prompt, scene.duration_s, aspect, seed)

        async def accept(state: PredictionState, model_input: ModelInput) -> Accepted[ClipMade]:
            urls = output_urls(state.output)
            if not urls:
                raise OutputInvalid(f"the clip model ({model}) returned no video")
            data = await fetch_output(self.api, urls[0], model, VIDEO_MAX_BYTES)
            label = f"clip of scene {scene.index}"
            facts = await asyncio.to_thread(
                _store_checked,
                spec.dest,
                data,
                lambda path: check_video(path, model_input.expected_s, expected_aspect, label),
            )
            made = ClipMade(spec.dest, facts.duration_s, facts.width, facts.height)
            return Accepted(made, {"video_second": facts.duration_s})

        call = PredictionCall(
            role="clip",
            model=model,
            work=spec.work,
            slot=slot,
            make_input=make_input,
            scene=scene.index,
        )
        return await self.runner.run(call, accept)

    # ----------------------------------------------------------------------------- voice

    async def generate_voice(self, spec: VoiceSpec) -> Path | None:
        model = self.model_for("voice", spec.request)
        if not self.settings.replicate_voice or model is None or not spec.text.strip():
            return None
        text = spec.text[:MAX_VOICE_CHARACTERS]

        async def accept(state: PredictionState, _: ModelInput) -> Accepted[Path]:
            urls = output_urls(state.output)
            if not urls:
                raise OutputInvalid(f"the voice model ({model}) returned no audio")
            data = await fetch_output(self.api, urls[0], model, AUDIO_MAX_BYTES)
            suffix = Path(urls[0].split("?")[0]).suffix.lower()
            dest = spec.dest.with_suffix(suffix if suffix in AUDIO_EXTENSIONS else ".mp3")
            await asyncio.to_thread(_store_checked, dest, data, check_audio)
            return Accepted(dest, {"character": float(len(text))})

        call = PredictionCall(
            role="voice",
            model=model,
            work=spec.work,
            slot="voice",
            make_input=lambda attempt: voice_input(model, text),
        )
        return await self.runner.run(call, accept)

    # ----------------------------------------------------------------------------- cancel

    async def cancel_job(self, job_id: str) -> int:
        # Taken before any await: the job's own task may drop its entries once canceled.
        running = self.runner.in_flight_of(job_id)
        if not running:
            return 0
        stopped = await self.runner.cancel_predictions(running)
        log.info("replicate.job_canceled", extra={"predictions": stopped})
        return stopped


def _store_checked(dest: Path, data: bytes, check: Callable[[Path], Any]) -> MediaFacts:
    """Write beside `dest`, check the file, then move it into place: `dest` only ever
    holds a complete, valid file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=dest.parent, prefix=".part-", suffix=dest.suffix)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        facts: MediaFacts = check(temporary)
        os.replace(temporary, dest)
        return facts
    finally:
        temporary.unlink(missing_ok=True)
