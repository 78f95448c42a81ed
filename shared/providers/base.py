"""The generation backend interface: one shape for the offline `local` engine and
for real models (Replicate), so services never know which one they talk to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.models import GenerationRequest, Scene


@dataclass(frozen=True)
class FrameSpec:
    """Everything needed to draw one storyboard frame."""

    job_id: str
    request: GenerationRequest
    scene: Scene
    scene_count: int
    size: tuple[int, int]
    product_image: bytes | None = None


class GenerationBackend(Protocol):
    name: str

    async def plan_script(self, job_id: str, request: GenerationRequest) -> list[Scene]:
        """Scenes (script, caption, visual prompt, duration) whose durations sum to
        `request.duration_s`."""
        ...

    async def refine_scene(
        self, job_id: str, request: GenerationRequest, scene: Scene, feedback: str
    ) -> Scene:
        """The scene rewritten to follow the client's feedback (same index and duration)."""
        ...

    async def generate_frame(self, spec: FrameSpec) -> bytes:
        """A JPEG frame for one scene at `spec.size`."""
        ...
