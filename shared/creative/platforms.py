"""Each platform's frame, safe zone and delivery requirements, read from
`platforms.toml` (data, not code).

Example::

    zone = safe_zone("tiktok", (540, 960))     # (x0, y0, x1, y1) in pixels of that frame
    platform_spec("tiktok").delivery.max_duration_s   # 60
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

Box = tuple[int, int, int, int]
PLATFORMS_FILE = Path(__file__).with_name("platforms.toml")


@dataclass(frozen=True)
class Delivery:
    """What a brief and a file must satisfy to run on the platform (preflight, QC)."""

    min_duration_s: float
    max_duration_s: float
    headline_max_chars: int
    caption_line_max_chars: int
    max_file_mb: float
    min_video_kbps: float
    max_video_kbps: float
    video_codec: str
    pixel_format: str
    min_fps: float
    max_fps: float
    faststart: bool
    audio_required: bool
    audio_codec: str
    ai_label: bool  # show a visible "AI-generated" label unless the brand kit says otherwise


@dataclass(frozen=True)
class PlatformSpec:
    name: str
    title: str
    size: tuple[int, int]
    top: float
    bottom: float
    left: float
    right: float
    delivery: Delivery

    def safe_zone(self, size: tuple[int, int]) -> Box:
        """The safe zone in pixels of a frame of `size` (any scale of the platform's)."""
        width, height = size
        return (
            round(width * self.left),
            round(height * self.top),
            round(width * (1 - self.right)),
            round(height * (1 - self.bottom)),
        )


@cache
def platforms() -> dict[str, PlatformSpec]:
    data = tomllib.loads(PLATFORMS_FILE.read_text())
    return {
        name: PlatformSpec(
            name=name,
            title=str(entry["title"]),
            size=(int(entry["size"][0]), int(entry["size"][1])),
            top=float(entry["top"]),
            bottom=float(entry["bottom"]),
            left=float(entry["left"]),
            right=float(entry["right"]),
            delivery=Delivery(**{f: entry[f] for f in Delivery.__dataclass_fields__}),
        )
        for name, entry in data.items()
    }


def platform_spec(name: str) -> PlatformSpec:
    try:
        return platforms()[name]
    except KeyError:
        raise ValueError(f"no platform {name!r} in {PLATFORMS_FILE.name}") from None


def safe_zone(platform: str, size: tuple[int, int]) -> Box:
    return platform_spec(platform).safe_zone(size)


def platform_for_size(size: tuple[int, int]) -> str:
    """A platform whose frame has `size`'s aspect (exports and frames from elsewhere)."""
    width, height = size
    if width == height:
        return "instagram_feed"
    return "tiktok" if height > width else "youtube"
