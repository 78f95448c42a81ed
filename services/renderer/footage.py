"""Scene footage from a model (the `replicate` backend): one clip per scene and variation
animated from the scene's plate (its approved picture with the product, without the
frame's text), and the voice-over, downloaded into storage before the engine composes.
A clip already in storage (a redelivered render) is reused, not bought again; scenes with
an uploaded video need no model.

Example::

    footage = await FootageMaker(storage, backend).make(work, request, storyboard, report)
    footage.clips[(1, 3)]        # variation 1, scene 3 → Path of its source clip
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.renderer.keys import source_clip_key, voice_key
from shared.logging import get_logger
from shared.models import GenerationRequest, Scene, Storyboard
from shared.providers.base import ClipSpec, FootageBackend, VoiceSpec, WorkRef
from shared.providers.replicate.outputs import last_frame_jpeg
from shared.providers.tasks import all_or_nothing
from shared.storage import LocalStorage

log = get_logger(__name__)

Report = Callable[[float, str], Awaitable[None]]
VOICE_SUFFIXES = (".mp3", ".wav", ".flac", ".ogg", ".m4a", ".aac")


@dataclass
class Footage:
    clips: dict[tuple[int, int], Path] = field(default_factory=dict)  # (variation, scene)
    voice: Path | None = None


class FootageMaker:
    def __init__(self, storage: LocalStorage, backend: FootageBackend) -> None:
        self.storage = storage
        self.backend = backend

    async def make(
        self,
        work: WorkRef,
        request: GenerationRequest,
        storyboard: Storyboard,
        report: Report,
    ) -> Footage:
        footage = Footage()
        scenes = [scene for scene in storyboard.scenes if not scene.clip_asset_id]
        variations = range(1, request.variations + 1)
        total = len(scenes) * request.variations + 1
        done = 0

        async def finished(what: str) -> None:
            nonlocal done
            done += 1
            await report(100 * done / total, what)

        async def voice() -> None:
            footage.voice = await self._voice(work, request, storyboard)
            await finished("voice-over ready")

        async def variation_clips(variation: int) -> None:
            if self.backend.chains_clips(request):
                previous: Path | None = None
                for scene in scenes:
                    start = await self._start_image(scene, previous)
                    previous = await self._clip(work, request, scene, variation, start)
                    footage.clips[(variation, scene.index)] = previous
                    await finished(f"clip {done + 1} of {total - 1} made")
                return

            async def one(scene: Scene) -> None:
                start = await self._start_image(scene, None)
                path = await self._clip(work, request, scene, variation, start)
                footage.clips[(variation, scene.index)] = path
                await finished(f"clip {done + 1} of {total - 1} made")

            await all_or_nothing([one(scene) for scene in scenes])

        try:
            await all_or_nothing([voice(), *(variation_clips(v) for v in variations)])
        except Exception:
            # One clip failed for good, so the render fails: stop paying for the others.
            await self.backend.cancel_job(work.job_id)
            raise
        return footage

    async def _start_image(self, scene: Scene, previous: Path | None) -> bytes:
        if previous is not None:  # chained: continue from the previous clip's last frame
            return await asyncio.to_thread(last_frame_jpeg, previous)
        # The plate: the scene's model picture with the product, no text (older
        # storyboards have none: their frame).
        return await self.storage.read(scene.plate_key or scene.image_key or "")

    async def _clip(
        self,
        work: WorkRef,
        request: GenerationRequest,
        scene: Scene,
        variation: int,
        start_image: bytes,
    ) -> Path:
        dest = self.storage.path(source_clip_key(work.job_id, variation, scene.index))
        if dest.is_file():  # only complete, checked clips are ever moved into place
            log.info("render.footage_reused", extra={"scene": scene.index})
            return dest
        spec = ClipSpec(work, request, scene, variation, start_image, dest)
        return (await self.backend.generate_clip(spec)).path

    async def _voice(
        self, work: WorkRef, request: GenerationRequest, storyboard: Storyboard
    ) -> Path | None:
        base = self.storage.path(voice_key(work.job_id))
        for suffix in VOICE_SUFFIXES:
            if base.with_suffix(suffix).is_file():
                return base.with_suffix(suffix)
        text = " ".join(scene.script.strip() for scene in storyboard.scenes)
        return await self.backend.generate_voice(VoiceSpec(work, request, text, base))
