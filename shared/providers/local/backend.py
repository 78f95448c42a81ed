"""The offline `local` engine behind the generation interface ($0, deterministic)."""

from __future__ import annotations

import asyncio

from shared.models import GenerationRequest, Scene
from shared.providers.base import FrameSpec, WorkRef
from shared.providers.local import planner
from shared.providers.local.frames import draw_frame


class LocalBackend:
    name = "local"

    async def plan_script(
        self, job_id: str, request: GenerationRequest, work: WorkRef | None = None
    ) -> list[Scene]:
        return planner.plan_scenes(job_id, request)

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
        # Pillow releases the GIL while it draws and encodes, so threads overlap scenes.
        return await asyncio.to_thread(
            draw_frame,
            size=spec.size,
            caption=spec.scene.caption,
            beat=spec.scene.beat or "solution",
            scene_index=spec.scene.index,
            scene_count=spec.scene_count,
            colors=list(spec.request.brand.colors),
            tone=spec.request.brand.tone,
            seed=spec.job_id,
            product_image=spec.product_image,
            layout_variant=spec.scene.revision - 1,
        )

    async def cancel_job(self, job_id: str) -> int:
        return 0  # nothing runs outside this process

    async def close(self) -> None:
        return None
