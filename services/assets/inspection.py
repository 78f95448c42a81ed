"""What validation found, and the limits every kind of upload shares."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from services.assets.formats import Format, Refused
from shared.assets import AssetKind

MAX_SIDE_PX = 8192
MAX_DURATION_S = 120.0
PREVIEW_PX = 512


@dataclass(frozen=True)
class Inspection:
    """What an accepted file is; `preview` is a small RGBA picture of it (image, video
    frame, font sample) for the thumbnail and the colours, or None (audio)."""

    kind: AssetKind
    format: Format
    bytes: int
    sha256: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    preview: Image.Image | None = None


def reason(exc: Exception) -> str:
    """An exception as a client can read it: ffmpeg's text without its errno prefix."""
    return str(getattr(exc, "strerror", None) or exc or exc.__class__.__name__)


def check_sides(width: int, height: int, what: str) -> None:
    if width < 1 or height < 1:
        raise Refused(f"the {what} has no pixels ({width}x{height})")
    if max(width, height) > MAX_SIDE_PX:
        raise Refused(
            f"the {what} is {width}x{height} px; at most {MAX_SIDE_PX} px per side is accepted"
        )
