"""A render: clips per scene (checkpointed, encoded in parallel processes), then the
composition of each variation, its poster and side files, then the final file made
deliverable (`finish_output`: Content Credentials signed in, then QC measured on the
signed file)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import json
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.renderer import engine
from services.renderer.credentials import Credentials, Provenance
from services.renderer.engine.report import write_report
from services.renderer.engine.voice import place_voice
from services.renderer.footage import Footage, FootageMaker
from services.renderer.keys import (
    captions_key,
    clip_key,
    contact_sheet_key,
    final_key,
    layout_key,
    placed_voice_key,
    poster_key,
    render_qc_key,
)
from services.renderer.metrics import observe_qc, observe_speed, render_phase
from services.renderer.qc.check import check_video
from shared.checks.findings import ContentCredentials, Finding, QcReport
from shared.creative.disclaimers import shows_ai_label
from shared.creative.styles import style_of
from shared.logging import get_logger
from shared.models import PLATFORM_SIZE, GenerationRequest, Storyboard, VideoOutput
from shared.providers.base import FootageBackend, WorkRef
from shared.storage import LocalStorage
from shared.tracing import span
from shared.uploads import (
    AUDIO_EXTENSIONS,
    FONT_EXTENSIONS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    find_upload,
)

log = get_logger(__name__)

Report = Callable[[float, str], Awaitable[None]]
CANCEL_DIR = Path(tempfile.gettempdir()) / "reelsmith-cancel"
CANCEL_WAIT_S = 30.0
# Share of a render's progress that model-made footage takes (it is most of the wait).
FOOTAGE_SHARE = 60.0


def _after_footage(report: Report) -> Report:
    """Engine progress mapped onto what is left once the footage is made."""

    async def engine_report(percent: float, message: str) -> None:
        await report(FOOTAGE_SHARE + percent * (100 - FOOTAGE_SHARE) / 100, message)

    return engine_report


def cancel_marker(job_id: str) -> Path:
    """A file whose existence tells encoder processes to stop work on the job."""
    return CANCEL_DIR / job_id


def video_size(request: GenerationRequest, divisor: int) -> tuple[int, int]:
    width, height = PLATFORM_SIZE[request.platform]
    # H.264 in yuv420p needs even dimensions.
    return max(16, width // divisor // 2 * 2), max(16, height // divisor // 2 * 2)


@dataclass(frozen=True)
class Finished:
    """A final file made deliverable: what it carries, what QC measured, its size."""

    credentials: ContentCredentials
    qc: QcReport
    size_bytes: int


async def finish_output(
    storage: LocalStorage,
    credentials: Credentials,
    key: str,
    provenance: Provenance,
    platform: str,
    layout: Mapping[str, Any] | None,
    thumbnail_key: Callable[[int], str],
    kind: str,
    alive: Callable[[], Awaitable[None]],
) -> Finished:
    """Sign the file at `key`, then check it: QC measures the file as delivered (its
    `layout` in this file's frame; thumbnails stored under `thumbnail_key(n)`). `alive`
    is called every ALIVE_EVERY_S meanwhile: these steps report no progress of their own,
    and the stuck-job reaper must still see the job moving."""
    path = storage.path(key)
    async with _heartbeat(alive):
        with render_phase("credentials", output=kind):
            signed = await credentials.sign(path, provenance)
        report = await check_output(storage, path, platform, layout, thumbnail_key, kind)
    return Finished(signed, report, path.stat().st_size)


ALIVE_EVERY_S = 1.0


@contextlib.asynccontextmanager
async def _heartbeat(alive: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            await alive()
            await asyncio.sleep(ALIVE_EVERY_S)

    task = asyncio.create_task(beat(), name="render-alive")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def check_output(
    storage: LocalStorage,
    path: Path,
    platform: str,
    layout: Mapping[str, Any] | None,
    thumbnail_key: Callable[[int], str],
    kind: str,
) -> QcReport:
    """QC of one file, its thumbnails stored. QC never fails a render: if it cannot run,
    the report says the file is unchecked (a warning) and why is logged."""
    started = time.perf_counter()
    with span("render.qc", output=kind):
        try:
            result = await asyncio.to_thread(check_video, path, platform, layout, thumbnail_key)
        except Exception:
            log.exception("qc.failed", extra={"kind": kind})
            unchecked = Finding(
                check="qc.unchecked",
                severity="warning",
                message="The file could not be checked; review it before it runs.",
            )
            report = QcReport.of([unchecked], {}, round(time.perf_counter() - started, 3))
        else:
            report = result.report
            for thumbnail, jpeg in result.thumbnails.items():
                await storage.put(thumbnail, jpeg)
    observe_qc(report, kind)
    log.info(
        "qc.checked",
        extra={"kind": kind, "status": report.status, "findings": len(report.findings)},
    )
    return report


def read_layout(path: Path) -> dict[str, Any] | None:
    """A render's `layout.json` (None when it is missing or unreadable: QC then checks no
    text box, and says so in `measured.text_boxes_read`)."""
    try:
        layout: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("qc.layout_unreadable", extra={"layout": path.name})
        return None
    return layout


def output_for(
    storage: LocalStorage,
    key: str,
    info: engine.VideoInfo,
    spec: engine.RenderSpec,
    poster: str | None,
    hypothesis: str | None,
    job_id: str,
) -> VideoOutput:
    variation = spec.variation
    return VideoOutput(
        kind="render",
        variation=variation,
        key=key,
        url=storage.url(key),
        poster_key=poster,
        duration_s=round(info.duration_s, 3),
        width=info.width,
        height=info.height,
        size_bytes=info.size_bytes,
        style=spec.style,
        hypothesis=hypothesis,
        captions_key=captions_key(job_id, variation),
        contact_sheet_key=contact_sheet_key(job_id, variation),
        loudness_lufs=info.loudness_lufs,
        true_peak_dbtp=info.true_peak_dbtp,
    )


class Renderer:
    def __init__(
        self,
        storage: LocalStorage,
        pool: ProcessPoolExecutor,
        divisor: int,
        footage: FootageBackend | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.storage = storage
        self.pool = pool
        self.divisor = divisor
        self.clips_made = 0
        # Content Credentials (C2PA) signed into every file; None: files go out unsigned.
        self.credentials = credentials or Credentials(None)
        # A backend that makes scene clips (replicate); None: the engine animates frames.
        self.footage = FootageMaker(storage, footage) if footage is not None else None

    async def spec(
        self,
        job_id: str,
        client_id: str,
        request: GenerationRequest,
        storyboard: Storyboard,
        variation: int,
        footage: Footage | None = None,
    ) -> engine.RenderSpec:
        brand = request.brand
        logo = await find_upload(self.storage, client_id, brand.logo_asset_id, IMAGE_EXTENSIONS)
        font = await find_upload(self.storage, client_id, brand.font_asset_id, FONT_EXTENSIONS)
        music = None
        product = None
        for asset_id in request.assets:
            music = music or await find_upload(self.storage, client_id, asset_id, AUDIO_EXTENSIONS)
            product = product or await find_upload(
                self.storage, client_id, asset_id, IMAGE_EXTENSIONS
            )
        plan = storyboard.plan_for(variation)
        cta = plan.call_to_action if plan else request.call_to_action or "Shop now"
        scenes = []
        for position, scene in enumerate(storyboard.scenes):
            clip = await find_upload(self.storage, client_id, scene.clip_asset_id, VIDEO_EXTENSIONS)
            video = self.storage.path(clip) if clip else None
            model_clip = None
            if video is None and footage is not None:
                model_clip = footage.clips.get((variation, scene.index))
            headline, script = scene.caption, scene.script
            if position == 0 and plan is not None and variation > 1:
                # A variation tests its own hook: the opening scene shows it (and says it,
                # unless one voice-over of the storyboard's script speaks for every variation).
                headline = plan.hook
                script = plan.hook_script if footage is None or footage.voice is None else script
            first = storyboard.plan_for(1)
            if scene.beat == "cta" and plan and first and scene.caption == first.call_to_action:
                headline = plan.call_to_action  # the variation's CTA wording
                if footage is None:  # no voice-over to follow: the caption says it too
                    script = script.replace(first.call_to_action, plan.call_to_action)
            # Model footage was made from the plate, which already holds the product.
            shows_product = product is not None and scene.beat != "problem" and clip is None
            scenes.append(
                engine.SceneInput(
                    index=scene.index,
                    frame_path=None,
                    duration_s=scene.duration_s,
                    caption=headline,
                    beat=scene.beat or "solution",
                    script=script,
                    claim=scene.claim,
                    shows_product=shows_product,
                    video_path=video or model_clip,
                    disclaimers=tuple(scene.disclaimers),
                )
            )
        base = engine.RenderSpec(
            size=video_size(request, self.divisor),
            scenes=tuple(scenes),
            variation=variation,
            seed=job_id,
            colors=tuple(brand.colors),
            call_to_action=cta,
            logo_path=self.storage.path(logo) if logo else None,
            font_path=self.storage.path(font) if font else None,
            music_path=self.storage.path(music) if music else None,
            voiceover_path=footage.voice if footage is not None else None,
            product_path=self.storage.path(product) if product and footage is None else None,
            platform=request.platform.value,
            style=plan.style if plan else storyboard.style or style_of(request),
            ai_label=shows_ai_label(request.platform.value, brand.ai_label, footage is not None),
        )
        if base.voiceover_path is not None:
            # The voice is cut scene by scene and placed on this variation's cuts.
            placed = self.storage.path(placed_voice_key(job_id, variation))
            words = await asyncio.to_thread(place_voice, base, placed)
            return dataclasses.replace(base, voiceover_path=placed, words=tuple(words))
        words = await asyncio.to_thread(engine.spoken_words, base)
        return dataclasses.replace(base, words=tuple(words))

    async def render(
        self,
        job_id: str,
        client_id: str,
        request: GenerationRequest,
        storyboard: Storyboard,
        report: Report,
        attempt: int = 1,
    ) -> list[VideoOutput]:
        cancel_marker(job_id).unlink(missing_ok=True)
        footage = None
        if self.footage is not None:
            # Model clips first (the paid, slow part, all scenes at once), then the engine.
            work = WorkRef(job_id, client_id, "render", attempt)

            async def making(percent: float, message: str) -> None:
                await report(percent * FOOTAGE_SHARE / 100, message)

            with render_phase("footage", scenes=len(storyboard.scenes)):
                footage = await self.footage.make(work, request, storyboard, making)
            report = _after_footage(report)
        outputs = []
        variations = request.variations
        for variation in range(1, variations + 1):
            started = time.perf_counter()
            spec = await self.spec(job_id, client_id, request, storyboard, variation, footage)
            share = 100 / variations
            base = share * (variation - 1)
            with render_phase("clips", variation=variation, scenes=len(spec.scenes)):
                # The soundtrack is mastered in a thread while the clips encode.
                soundtrack = asyncio.ensure_future(
                    asyncio.to_thread(engine.master_soundtrack, spec)
                )
                try:
                    clips = await self.clips(job_id, spec, variation, base, share * 0.8, report)
                    audio = await soundtrack
                except BaseException:
                    soundtrack.cancel()
                    raise

            async def composing(
                fraction: float,
                base: float = base,
                share: float = share,
                variation: int = variation,
            ) -> None:
                message = f"composing variation {variation}"
                await report(base + share * (0.8 + 0.2 * fraction), message)

            key = final_key(job_id, variation)
            self.storage.path(key).parent.mkdir(parents=True, exist_ok=True)
            with render_phase("compose", variation=variation):
                info = await self.compose(spec, clips, key, composing, audio)
            poster = poster_key(job_id, variation)
            layout = self.storage.path(layout_key(job_id, variation))
            with render_phase("poster", variation=variation):
                await asyncio.to_thread(
                    engine.poster_frame, self.storage.path(key), self.storage.path(poster)
                )
                await asyncio.to_thread(
                    write_report,
                    spec,
                    self.storage.path(key),
                    self.storage.path(captions_key(job_id, variation)),
                    self.storage.path(contact_sheet_key(job_id, variation)),
                    layout,
                )
            finished = await finish_output(
                self.storage,
                self.credentials,
                key,
                self.credentials.render_provenance(request, variation, footage),
                spec.platform,
                read_layout(layout),
                functools.partial(render_qc_key, job_id, variation),
                "render",
                functools.partial(report, base + share, f"checking variation {variation}"),
            )
            info = dataclasses.replace(info, size_bytes=finished.size_bytes)
            observe_speed(info.duration_s, time.perf_counter() - started)
            plan = storyboard.plan_for(variation)
            output = output_for(
                self.storage, key, info, spec, poster, plan.hypothesis if plan else None, job_id
            )
            outputs.append(
                output.model_copy(update={"credentials": finished.credentials, "qc": finished.qc})
            )
        return outputs

    async def clips(
        self,
        job_id: str,
        spec: engine.RenderSpec,
        variation: int,
        base: float,
        share: float,
        report: Report,
    ) -> list[Path]:
        """Every scene's clip: reused when a checkpoint of the same clip exists (the engine
        fingerprints what decides its pixels), else encoded in the pool."""
        keys = [clip_key(job_id, variation, scene.index) for scene in spec.scenes]
        missing = [
            (scene.index, key)
            for scene, key in zip(spec.scenes, keys, strict=True)
            if not await asyncio.to_thread(
                engine.clip_is_current, spec, scene.index, self.storage.path(key)
            )
        ]
        done = len(keys) - len(missing)
        for _, key in missing:
            self.storage.path(key).parent.mkdir(parents=True, exist_ok=True)
        submitted = [
            self.pool.submit(
                engine.render_clip, spec, index, self.storage.path(key), cancel_marker(job_id)
            )
            for index, key in missing
        ]
        try:
            for finished in asyncio.as_completed([asyncio.wrap_future(f) for f in submitted]):
                await finished
                self.clips_made += 1
                done += 1
                await report(base + share * done / len(keys), f"clip {done} of {len(keys)}")
        except BaseException:
            # Tell the encoders to stop and wait until they have: a canceled render must
            # leave no half-written clip behind, nor one finished after the job ended.
            marker = cancel_marker(job_id)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
            await asyncio.to_thread(concurrent.futures.wait, submitted, CANCEL_WAIT_S)
            raise
        return [self.storage.path(key) for key in keys]

    async def compose(
        self,
        spec: engine.RenderSpec,
        clips: list[Path],
        key: str,
        report: Callable[[float], Awaitable[None]],
        audio: engine.EncodedAudio | None = None,
    ) -> engine.VideoInfo:
        loop = asyncio.get_running_loop()

        def progress(fraction: float) -> None:
            asyncio.run_coroutine_threadsafe(_coroutine(report(fraction)), loop)

        return await asyncio.to_thread(
            engine.compose, spec, clips, self.storage.path(key), progress, audio
        )


async def _coroutine(awaitable: Awaitable[None]) -> None:
    """`run_coroutine_threadsafe` takes a coroutine; a report callback is any awaitable."""
    await awaitable
