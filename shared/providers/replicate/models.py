"""How to ask each model for what a role needs: the input fields it takes (they differ:
`image` / `start_image` / `first_frame_image`), the clip lengths it can make, and how
long its output will be. The models themselves are chosen by billing's pricing table.

Example::

    spec = CLIP_MODELS["kwaivgi/kling-v1.6-pro"]
    request = spec.clip_input(image_uri, "slow dolly in", scene_s=6.2, aspect="9:16", seed=7)
    request.input["duration"], request.expected_s         # 10, 10.0
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

from shared.models import PLATFORM_SIZE, Platform

ASPECT_OF_SIZE = {(1080, 1920): "9:16", (1080, 1080): "1:1", (1920, 1080): "16:9"}


def aspect_of(platform: Platform) -> str:
    return ASPECT_OF_SIZE[PLATFORM_SIZE[platform]]


@dataclass(frozen=True)
class ModelInput:
    """A prediction's input plus what we expect back."""

    input: dict[str, Any]
    expected_s: float | None = None


@dataclass(frozen=True)
class ClipModel:
    """An image-to-video model: which field takes the first frame, which lengths it makes."""

    image_field: str
    fps: float
    durations_s: tuple[float, ...] = ()
    duration_field: str | None = None
    # Models that take a frame count instead of a duration (Wan: 81..100 frames at 16 fps).
    frames_field: str | None = None
    frames_range: tuple[int, int] = (0, 0)
    aspect_field: str | None = "aspect_ratio"
    aspects: tuple[str, ...] = ("16:9", "9:16", "1:1")
    seed_field: str | None = "seed"
    prompt_required: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # The model starts its clip from any image, so a previous clip's last frame works.
    chains: bool = True

    def length_for(self, scene_s: float) -> float:
        """The clip length this model makes for a scene of `scene_s` seconds: the shortest
        that covers it, else the longest (the renderer loops the footage)."""
        if self.frames_field:
            low, high = self.frames_range
            frames = min(high, max(low, math.ceil(scene_s * self.fps) + 1))
            return frames / self.fps
        fitting = [d for d in sorted(self.durations_s) if d >= scene_s - 1e-9]
        return fitting[0] if fitting else max(self.durations_s)

    def clip_input(
        self, image: str, prompt: str, scene_s: float, aspect: str, seed: int
    ) -> ModelInput:
        values: dict[str, Any] = {self.image_field: image, "prompt": prompt, **self.extra}
        length = self.length_for(scene_s)
        if self.frames_field:
            values[self.frames_field] = round(length * self.fps)
        elif self.duration_field:
            values[self.duration_field] = int(length)
        if self.aspect_field and aspect in self.aspects:
            values[self.aspect_field] = aspect
        if self.seed_field:
            values["seed"] = seed
        return ModelInput(values, expected_s=length)


CLIP_MODELS: dict[str, ClipModel] = {
    "wan-video/wan-2.1-i2v-480p": ClipModel(
        image_field="image", fps=16, frames_field="num_frames", frames_range=(81, 100)
    ),
    "wan-video/wan-2.1-i2v-720p": ClipModel(
        image_field="image", fps=16, frames_field="num_frames", frames_range=(81, 100)
    ),
    "kwaivgi/kling-v1.6-pro": ClipModel(
        image_field="start_image",
        fps=24,
        durations_s=(5, 10),
        duration_field="duration",
        seed_field=None,
    ),
    "kwaivgi/kling-v2.1": ClipModel(
        image_field="start_image",
        fps=24,
        durations_s=(5, 10),
        duration_field="duration",
        seed_field=None,
        extra={"mode": "standard"},
    ),
    "minimax/video-01": ClipModel(
        image_field="first_frame_image",
        fps=25,
        durations_s=(6,),
        aspect_field=None,
        seed_field=None,
        prompt_required=True,
    ),
    "minimax/hailuo-02": ClipModel(
        image_field="first_frame_image",
        fps=24,
        durations_s=(6, 10),
        duration_field="duration",
        aspect_field=None,
        seed_field=None,
        prompt_required=True,
        extra={"resolution": "768p"},
    ),
    "google/veo-3.1-fast": ClipModel(
        image_field="image",
        fps=24,
        durations_s=(4, 6, 8),
        duration_field="duration",
        aspects=("16:9", "9:16"),
        extra={"generate_audio": False, "resolution": "720p"},
    ),
}


def frame_input(model: str, prompt: str, aspect: str, seed: int) -> ModelInput:
    """An image model's input for one storyboard frame (JPEG, one image)."""
    values: dict[str, Any] = {
        "prompt": prompt,
        "aspect_ratio": aspect,
        "seed": seed,
        "output_format": "jpg",
        "output_quality": 90,
    }
    if model in ("black-forest-labs/flux-schnell", "black-forest-labs/flux-dev"):
        values["num_outputs"] = 1
    return ModelInput(values)


def script_input(model: str, system: str, prompt: str, scenes: int, seed: int) -> ModelInput:
    """An instruction LLM's input: enough tokens for `scenes` scenes, low temperature
    (a storyboard is a format to follow more than a poem)."""
    return ModelInput(
        {
            "prompt": prompt,
            "system_prompt": system,
            "max_tokens": 256 + 200 * scenes,
            "temperature": 0.6,
            "seed": seed,
        }
    )


def voice_input(model: str, text: str) -> ModelInput:
    return ModelInput({"text": text, "audio_format": "mp3", "emotion": "happy"})


def seed_for(*parts: object) -> int:
    """A seed fixed by what the prediction is for (so a re-attaching replica sends the
    same input) and different on every attempt."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2_000_000_000
