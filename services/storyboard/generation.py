"""Making a storyboard: plan the scenes, draw their frames concurrently, store them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from services.storyboard.keys import frame_key
from shared.models import PLATFORM_SIZE, GenerationRequest, Scene, Storyboard
from shared.providers.base import FrameSpec, GenerationBackend, WorkRef
from shared.providers.tasks import all_or_nothing
from shared.storage import LocalStorage
from shared.uploads import IMAGE_EXTENSIONS, find_upload

SceneDone = Callable[[Scene, int, int], Awaitable[None]]


def frame_size(request: GenerationRequest, divisor: int) -> tuple[int, int]:
    width, height = PLATFORM_SIZE[request.platform]
    return max(16, width // divisor), max(16, height // divisor)


async def product_image(
    storage: LocalStorage, client_id: str, request: GenerationRequest
) -> bytes | None:
    """The first uploaded image the brief names, if it is in storage."""
    for asset_id in request.assets:
        if key := await find_upload(storage, client_id, asset_id, IMAGE_EXTENSIONS):
            return await storage.read(key)
    return None


class StoryboardMaker:
    def __init__(
        self,
        backend: GenerationBackend,
        storage: LocalStorage,
        scene_concurrency: int,
        size_divisor: int = 1,
    ) -> None:
        self.backend = backend
        self.storage = storage
        self.scene_concurrency = scene_concurrency
        self.size_divisor = size_divisor

    async def make(
        self,
        job_id: str,
        client_id: str,
        request: GenerationRequest,
        on_scene: SceneDone,
        attempt: int = 1,
    ) -> Storyboard:
        work = WorkRef(job_id, client_id, "storyboard", attempt)
        scenes = await self.backend.plan_script(job_id, request, work)
        image = await product_image(self.storage, client_id, request)
        limit = asyncio.Semaphore(self.scene_concurrency)
        done = 0

        async def draw(scene: Scene) -> Scene:
            nonlocal done
            async with limit:
                drawn = await self.draw(job_id, request, scene, len(scenes), image, work)
            done += 1
            await on_scene(drawn, done, len(scenes))
            return drawn

        try:
            drawn = await all_or_nothing([draw(scene) for scene in scenes])
        except Exception:
            # A frame failed for good, so the storyboard fails: stop paying for the rest.
            await self.backend.cancel_job(job_id)
            raise
        return Storyboard(scenes=sorted(drawn, key=lambda s: s.index))

    async def refine(
        self,
        job_id: str,
        client_id: str,
        request: GenerationRequest,
        storyboard: Storyboard,
        index: int,
        feedback: str,
        attempt: int = 1,
    ) -> Storyboard:
        work = WorkRef(job_id, client_id, "refine", attempt)
        scene = next(s for s in storyboard.scenes if s.index == index)
        count = len(storyboard.scenes)
        rewritten = await self.backend.refine_scene(
            job_id, request, scene, feedback, work, scene_count=count
        )
        image = await product_image(self.storage, client_id, request)
        drawn = await self.draw(job_id, request, rewritten, count, image, work)
        return Storyboard(scenes=[drawn if s.index == index else s for s in storyboard.scenes])

    async def draw(
        self,
        job_id: str,
        request: GenerationRequest,
        scene: Scene,
        scene_count: int,
        image: bytes | None,
        work: WorkRef | None = None,
    ) -> Scene:
        spec = FrameSpec(
            job_id=job_id,
            request=request,
            scene=scene,
            scene_count=scene_count,
            size=frame_size(request, self.size_divisor),
            product_image=image,
            work=work,
        )
        jpeg = await self.backend.generate_frame(spec)
        # A refined scene keeps its frame key: after a reorder, scene n may own scene_m.jpg.
        key = scene.image_key or frame_key(job_id, scene.index)
        await self.storage.put(key, jpeg)
        return scene.model_copy(update={"image_key": key})
