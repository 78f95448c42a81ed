"""The generation backend interface: one shape for the offline `local` engine and
for real models (Replicate), so services never know which one they talk to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.models import GenerationRequest, Scene, Storyboard


@dataclass(frozen=True)
class WorkRef:
    """Whom a generation call works for: paid backends key their cost events and
    prediction checkpoints by it (`attempt` is the job's stage attempt)."""

    job_id: str
    client_id: str = ""
    stage: str = "storyboard"  # storyboard | refine | render
    attempt: int = 1


@dataclass(frozen=True)
class FrameSpec:
    """Everything needed to draw one storyboard frame."""

    job_id: str
    request: GenerationRequest
    scene: Scene
    scene_count: int
    size: tuple[int, int]
    product_image: bytes | None = None
    work: WorkRef | None = None

    @property
    def ref(self) -> WorkRef:
        return self.work or WorkRef(self.job_id)


class GenerationBackend(Protocol):
    name: str
    # True: `generate_frame` returns a model's picture (no text) for the design system to
    # compose; False: the design system draws the whole frame itself.
    draws_pictures: bool

    async def plan_script(
        self, job_id: str, request: GenerationRequest, work: WorkRef | None = None
    ) -> list[Scene]:
        """Scenes (script, caption, visual prompt, duration) whose durations sum to
        `request.duration_s`."""
        ...

    async def plan_storyboard(
        self, job_id: str, request: GenerationRequest, work: WorkRef | None = None
    ) -> Storyboard:
        """The scenes with what the ad is built on: each scene's brief claim, the claims
        that did not fit, the style and what each variation tests."""
        ...

    async def refine_scene(
        self,
        job_id: str,
        request: GenerationRequest,
        scene: Scene,
        feedback: str,
        work: WorkRef | None = None,
        scene_count: int = 0,
    ) -> Scene:
        """The scene rewritten to follow the client's feedback (same index and duration)."""
        ...

    async def generate_frame(self, spec: FrameSpec) -> bytes:
        """A JPEG frame for one scene at `spec.size`."""
        ...

    async def cancel_job(self, job_id: str) -> int:
        """Stop the job's paid work in flight upstream; how many calls were stopped."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ClipSpec:
    """One scene's footage, animated from `start_image` (a JPEG) into `dest`."""

    work: WorkRef
    request: GenerationRequest
    scene: Scene
    variation: int
    start_image: bytes
    dest: Path


@dataclass(frozen=True)
class ClipMade:
    path: Path
    duration_s: float
    width: int
    height: int


@dataclass(frozen=True)
class VoiceSpec:
    work: WorkRef
    request: GenerationRequest
    text: str
    dest: Path  # the extension is set by the backend


class FootageBackend(Protocol):
    """A backend that makes scene clips (image-to-video) and a voice-over; the renderer
    still composes the final video itself."""

    name: str

    def chains_clips(self, request: GenerationRequest) -> bool:
        """Whether the clip model can start a clip from the previous clip's last frame."""
        ...

    async def generate_clip(self, spec: ClipSpec) -> ClipMade: ...

    async def generate_voice(self, spec: VoiceSpec) -> Path | None:
        """The voice-over file, or None when voice is switched off."""
        ...

    async def cancel_job(self, job_id: str) -> int: ...

    async def close(self) -> None: ...
