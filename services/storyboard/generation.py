"""Making a storyboard: plan the scenes, draw their frames concurrently, store them.

Frames are drawn by the design system (`shared.creative`): the scene's plate (a drawn
background, or a model's picture, with the product) and its headline, spoken words, logo
and call to action settled on it. A backend that makes pictures (replicate) paints each
scene's background; its plate (picture + product, no text) is stored too, as the start
image of the scene's clip. No review chrome (scene numbers) is baked in: the console
draws it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from services.storyboard.keys import frame_key, plate_key
from shared.creative.disclaimers import shows_ai_label
from shared.creative.frame import plate_jpeg, storyboard_frame
from shared.creative.layout import SceneDesign
from shared.creative.palette import brand_palette
from shared.creative.plate import decode_product
from shared.creative.styles import style_of
from shared.models import PLATFORM_SIZE, GenerationRequest, Scene, Storyboard, Style
from shared.providers.base import FrameSpec, GenerationBackend, WorkRef
from shared.providers.tasks import all_or_nothing
from shared.storage import LocalStorage
from shared.tracing import span
from shared.uploads import FONT_EXTENSIONS, IMAGE_EXTENSIONS, find_upload

SceneDone = Callable[[Scene, int, int], Awaitable[None]]
DEFAULT_CALL_TO_ACTION = "Shop now"


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


@dataclass(frozen=True)
class BrandAssets:
    """The uploads a frame is drawn with."""

    product: bytes | None = None
    logo: Path | None = None
    font: Path | None = None


async def brand_assets(
    storage: LocalStorage, client_id: str, request: GenerationRequest
) -> BrandAssets:
    """The brief's product image, logo and font. An unreadable product image fails here
    (ValueError), before any model is paid for."""
    product = await product_image(storage, client_id, request)
    if product is not None:
        await asyncio.to_thread(decode_product, product)
    brand = request.brand
    logo = await find_upload(storage, client_id, brand.logo_asset_id, IMAGE_EXTENSIONS)
    font = await find_upload(storage, client_id, brand.font_asset_id, FONT_EXTENSIONS)
    return BrandAssets(
        product=product,
        logo=storage.path(logo) if logo else None,
        font=storage.path(font) if font else None,
    )


def scene_design(
    job_id: str,
    request: GenerationRequest,
    scene: Scene,
    style: Style,
    assets: BrandAssets,
    size: tuple[int, int],
    generative: bool = False,
) -> SceneDesign:
    beat = scene.beat or "solution"
    return SceneDesign(
        size=size,
        platform=request.platform.value,
        style=style,
        beat=beat,
        headline=scene.caption,
        has_product=assets.product is not None and beat != "problem",
        has_logo=assets.logo is not None,
        call_to_action=request.call_to_action or DEFAULT_CALL_TO_ACTION,
        brand_font=str(assets.font) if assets.font else None,
        palette=tuple(brand_palette(list(request.brand.colors))),
        seed=job_id,
        disclaimers=tuple(scene.disclaimers),
        ai_label=shows_ai_label(request.platform.value, request.brand.ai_label, generative),
    )


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

    @property
    def draws_pictures(self) -> bool:
        """Whether the backend paints each scene's picture (a paid model), or the design
        system draws the whole frame."""
        return bool(getattr(self.backend, "draws_pictures", self.backend.name != "local"))

    async def make(
        self,
        job_id: str,
        client_id: str,
        request: GenerationRequest,
        on_scene: SceneDone,
        attempt: int = 1,
    ) -> Storyboard:
        work = WorkRef(job_id, client_id, "storyboard", attempt)
        with span("storyboard.assets"):
            assets = await brand_assets(self.storage, client_id, request)
        with span("storyboard.plan"):
            storyboard = await self.backend.plan_storyboard(job_id, request, work)
        scenes = storyboard.scenes
        style = storyboard.style or style_of(request)
        limit = asyncio.Semaphore(self.scene_concurrency)
        done = 0

        async def draw(scene: Scene) -> Scene:
            nonlocal done
            async with limit:
                drawn = await self.draw(job_id, request, scene, len(scenes), style, assets, work)
            done += 1
            await on_scene(drawn, done, len(scenes))
            return drawn

        try:
            drawn = await all_or_nothing([draw(scene) for scene in scenes])
        except Exception:
            # A frame failed for good, so the storyboard fails: stop paying for the rest.
            await self.backend.cancel_job(job_id)
            raise
        return storyboard.model_copy(update={"scenes": sorted(drawn, key=lambda s: s.index)})

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
        assets = await brand_assets(self.storage, client_id, request)
        rewritten = await self.backend.refine_scene(
            job_id, request, scene, feedback, work, scene_count=count
        )
        style = storyboard.style or style_of(request)
        drawn = await self.draw(job_id, request, rewritten, count, style, assets, work)
        scenes = [drawn if s.index == index else s for s in storyboard.scenes]
        return storyboard.model_copy(update={"scenes": scenes})

    async def draw(
        self,
        job_id: str,
        request: GenerationRequest,
        scene: Scene,
        scene_count: int,
        style: Style,
        assets: BrandAssets,
        work: WorkRef | None = None,
    ) -> Scene:
        with span("storyboard.frame", attributes={"reelsmith.scene": scene.index}):
            return await self._draw(job_id, request, scene, scene_count, style, assets, work)

    async def _draw(
        self,
        job_id: str,
        request: GenerationRequest,
        scene: Scene,
        scene_count: int,
        style: Style,
        assets: BrandAssets,
        work: WorkRef | None,
    ) -> Scene:
        size = frame_size(request, self.size_divisor)
        design = scene_design(
            job_id, request, scene, style, assets, size, generative=self.draws_pictures
        )
        # A refined scene keeps its frame key: after a reorder, scene n may own scene_m.jpg.
        key = scene.image_key or frame_key(job_id, scene.index)
        plate: str | None = None
        product, plate_bytes = assets.product, None
        if self.draws_pictures:
            spec = FrameSpec(
                job_id=job_id,
                request=request,
                scene=scene,
                scene_count=scene_count,
                size=size,
                product_image=assets.product,
                work=work,
            )
            picture = await self.backend.generate_frame(spec)  # the model's image, no text
            plate_bytes = await asyncio.to_thread(plate_jpeg, design, assets.product, picture)
            # Like the frame, a refined scene keeps its plate key.
            plate = scene.plate_key or plate_key(job_id, scene.index)
            await self.storage.put(plate, plate_bytes)
            product = None
        # Pillow releases the GIL while it draws and encodes, so threads overlap scenes;
        # drawn and stored in one trip to a thread (each hop costs the loop a wake-up).
        await asyncio.to_thread(
            self._draw_and_store, key, design, scene.script, product, plate_bytes, assets.logo
        )
        return scene.model_copy(update={"image_key": key, "plate_key": plate})

    def _draw_and_store(
        self,
        key: str,
        design: SceneDesign,
        script: str,
        product: bytes | None,
        picture: bytes | None,
        logo: Path | None,
    ) -> None:
        self.storage.put_sync(key, storyboard_frame(design, script, product, picture, logo))
