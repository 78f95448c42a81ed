"""The offline `local` engine behind the generation interface ($0, deterministic)."""

from __future__ import annotations

import asyncio

from shared.creative.frame import storyboard_frame
from shared.creative.layout import SceneDesign
from shared.creative.palette import brand_palette
from shared.creative.styles import style_of
from shared.models import GenerationRequest, Scene, Storyboard
from shared.providers.base import FrameSpec, WorkRef
from shared.providers.local import planner


class LocalBackend:
    name = "local"
    # The design system draws the whole picture: there is no model picture to fetch.
    draws_pictures = False

    async def plan_script(
        self, job_id: str, request: GenerationRequest, work: WorkRef | None = None
    ) -> list[Scene]:
        return planner.plan_scenes(job_id, request)

    async def plan_storyboard(
        self, job_id: str, request: GenerationRequest, work: WorkRef | None = None
    ) -> Storyboard:
        return planner.plan_storyboard(job_id, request)

    async def refine_scene(
        self,
        job_id: str,
        request: GenerationRequest,
        scene: Scene,
        feedback: str,
        work: WorkRef | None = None,
        scene_count: int = 0,
    ) -> Scene:
        return planner.refine_scene(job_id, request, scene, feedback)

    async def generate_frame(self, spec: FrameSpec) -> bytes:
        """The scene's storyboard frame drawn by the design system (the storyboard service
        draws frames itself, with the brand's logo and font; this serves other callers)."""
        request = spec.request
        design = SceneDesign(
            size=spec.size,
            platform=request.platform.value,
            style=style_of(request),
            beat=spec.scene.beat or "solution",
            headline=spec.scene.caption,
            has_product=spec.product_image is not None and spec.scene.beat != "problem",
            call_to_action=request.call_to_action or "Shop now",
            palette=tuple(brand_palette(list(request.brand.colors))),
            seed=spec.job_id,
        )
        # Pillow releases the GIL while it draws and encodes, so threads overlap scenes.
        return await asyncio.to_thread(
            storyboard_frame, design, spec.scene.script, spec.product_image
        )

    async def cancel_job(self, job_id: str) -> int:
        return 0  # nothing runs outside this process

    async def close(self) -> None:
        return None
