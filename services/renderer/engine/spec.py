"""What the engine is asked to render and what it reports back.

Everything here is a frozen dataclass of plain values and paths, so a spec can be sent to a
worker process (`ProcessPoolExecutor`) and the same spec always gives the same output.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shared.creative.palette import brand_palette
from shared.models import Style

if TYPE_CHECKING:
    from services.renderer.engine.speech import WordTime

# Bump when a change alters the pixels or timing of clips, so checkpointed clips made by an
# older engine are not reused (see `clip_fingerprint`).
ENGINE_VERSION = "4"

MAX_SIDE = 4096
BEATS = ("hook", "problem", "solution", "benefit", "cta")


class RenderCanceled(Exception):
    """The render was stopped because its cancel file appeared."""


@dataclass(frozen=True)
class SceneInput:
    index: int  # 1-based, equal to the scene's position in RenderSpec.scenes
    frame_path: Path | None  # a picture to move under the text (None: the style draws one)
    duration_s: float
    caption: str  # the on-screen headline
    beat: str  # hook|problem|solution|benefit|proof|cta
    script: str = ""  # the spoken line (the caption layer)
    claim: str | None = None
    shows_product: bool = False  # the product is in this scene's picture (drawn or footage)
    # An uploaded video clip shown instead of the still frame (and instead of the end card
    # on a cta scene): no Ken Burns motion, looped if shorter than the scene (see video.py).
    video_path: Path | None = None
    # Legal lines shown on this scene as small print (placed by the planner, timed there).
    disclaimers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "disclaimers", tuple(self.disclaimers))
        if self.frame_path is not None:
            object.__setattr__(self, "frame_path", Path(self.frame_path))
        if self.video_path is not None:
            object.__setattr__(self, "video_path", Path(self.video_path))
        if not self.duration_s > 0:
            raise ValueError(f"scene {self.index}: duration_s must be > 0")


@dataclass(frozen=True)
class RenderSpec:
    size: tuple[int, int]  # output (width, height), both even
    scenes: tuple[SceneInput, ...]
    variation: int = 1  # 1..5: motion, transitions, caption style and music differ visibly
    seed: str = ""  # job id: same spec -> same output
    fps: int = 30
    colors: tuple[str, ...] = ()  # brand hex colours
    call_to_action: str = "Shop now"
    logo_path: Path | None = None  # PNG/JPEG/WebP: watermark + end card
    font_path: Path | None = None  # TTF/OTF for captions and the end card
    music_path: Path | None = None  # uploaded music instead of the synthesized bed
    voiceover_path: Path | None = None  # voice over the music (music ducked under it)
    product_path: Path | None = None  # the product image: the hero of most scenes
    platform: str = "tiktok"  # whose safe zone the text keeps to
    style: Style = "bold"
    # The visible "AI-generated" label, as the renderer decides it from the brand kit and
    # the platform's policy (`shared.creative.disclaimers.shows_ai_label`).
    ai_label: bool = False
    # The spoken words with their times (voice-over aligned, or at reading speed): the
    # caption layer and the caption files.
    words: tuple[WordTime, ...] = ()
    transition_s: float = 0.5
    crf: int = 23
    preset: str = "veryfast"
    # x264 threads per clip encoder; 0 lets x264 decide. 2 suits two clip workers on 2 cores.
    encoder_threads: int = 2
    _palette: tuple[tuple[int, int, int], ...] = field(
        default=(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        width, height = (int(v) for v in self.size)
        if not (16 <= width <= MAX_SIDE and 16 <= height <= MAX_SIDE):
            raise ValueError(f"size must be 16..{MAX_SIDE} px per side, got {self.size!r}")
        if width % 2 or height % 2:
            raise ValueError(f"size must be even for yuv420p, got {self.size!r}")
        object.__setattr__(self, "size", (width, height))
        scenes = tuple(self.scenes)
        if not scenes:
            raise ValueError("a render needs at least one scene")
        for position, scene in enumerate(scenes, 1):
            if scene.index != position:
                raise ValueError(
                    f"scenes must be in play order with index 1..n; position {position} "
                    f"has index {scene.index}"
                )
        object.__setattr__(self, "scenes", scenes)
        if not 1 <= self.variation <= 5:
            raise ValueError("variation must be 1..5")
        if not 1 <= self.fps <= 120:
            raise ValueError("fps must be 1..120")
        if self.transition_s < 0:
            raise ValueError("transition_s must be >= 0")
        if not 0 <= self.crf <= 51:
            raise ValueError("crf must be 0..51")
        object.__setattr__(self, "colors", tuple(self.colors))
        for name in ("logo_path", "font_path", "music_path", "voiceover_path", "product_path"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        # Raises ValueError for a bad hex colour, up front rather than in a worker.
        object.__setattr__(self, "_palette", tuple(brand_palette(list(self.colors))))

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def palette(self) -> tuple[tuple[int, int, int], ...]:
        return self._palette

    @property
    def duration_s(self) -> float:
        return sum(scene.duration_s for scene in self.scenes)


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    duration_s: float
    width: int
    height: int
    fps: float
    size_bytes: int
    video_codec: str
    pix_fmt: str
    audio_codec: str | None
    loudness_lufs: float | None = None
    true_peak_dbtp: float | None = None


def file_digest(path: Path | None) -> str:
    """Short content hash of a file ('' for None), for fingerprints."""
    if path is None:
        return ""
    digest = hashlib.blake2b(digest_size=12)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
