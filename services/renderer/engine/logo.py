"""The brand logo: loading, fitting, and the small watermark shown on every frame."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import cast

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from services.renderer.engine.layout import safe_area
from services.renderer.engine.overlay import Overlay
from shared.providers.local.palette import relative_luminance

WATERMARK_OPACITY = 0.85
_MAX_SIDE = 2048


def load_logo(path: Path) -> Image.Image:
    """The logo as RGBA (EXIF orientation applied, cropped to its visible pixels, at most
    2048 px a side); ValueError if the file is not a readable image. Do not modify it."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ValueError(f"logo {path.name} cannot be read: {exc}") from exc
    return _load_logo(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _load_logo(path: Path, _mtime_ns: int, _size: int) -> Image.Image:
    # Keyed by modification time and size too, so a replaced file is read again.
    try:
        with Image.open(path) as opened:
            opened.draft("RGB", (_MAX_SIDE, _MAX_SIDE))
            image = ImageOps.exif_transpose(opened)
            image = image.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"logo {path.name} is not a readable image: {exc}") from exc
    if max(image.size) > _MAX_SIDE:
        image.thumbnail((_MAX_SIDE, _MAX_SIDE), Image.Resampling.LANCZOS)
    bbox = image.getchannel("A").getbbox()
    if bbox is None:
        raise ValueError(f"logo {path.name} is fully transparent")
    return image.crop(bbox)  # transparent margins would shrink the visible logo


def fit_logo(logo: Image.Image, box: tuple[int, int]) -> Image.Image:
    scale = min(box[0] / logo.width, box[1] / logo.height)
    size = (max(1, round(logo.width * scale)), max(1, round(logo.height * scale)))
    return logo.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def has_transparency(image: Image.Image) -> bool:
    low, _ = cast(tuple[int, int], image.getchannel("A").getextrema())
    return low < 250


def ink_luminance(image: Image.Image) -> float:
    """Relative luminance of the logo's visible pixels (alpha-weighted mean colour)."""
    pixels = np.asarray(image, dtype=np.float32)
    alpha = pixels[..., 3:4] / 255
    total = max(float(alpha.sum()), 1e-6)
    r, g, b = ((pixels[..., :3] * alpha).sum(axis=(0, 1)) / total).round().astype(int)
    return relative_luminance((int(r), int(g), int(b)))


def watermark_overlay(logo_path: Path, frame_size: tuple[int, int]) -> Overlay:
    """The logo small and semi-transparent in the top-right corner of the safe area, on a
    soft plate (dark behind a light logo, light behind a dark one) so it reads anywhere."""
    width = frame_size[0]
    short = min(frame_size)
    logo = fit_logo(load_logo(logo_path), (round(short * 0.2), round(short * 0.08)))
    pad = max(2, round(short * 0.012))
    plate_size = (logo.width + 2 * pad, logo.height + 2 * pad)
    blur = max(1, pad // 2)
    canvas = Image.new("RGBA", (plate_size[0] + 4 * blur, plate_size[1] + 4 * blur), (0, 0, 0, 0))
    light_logo = ink_luminance(logo) > 0.4
    plate_colour = (0, 0, 0) if light_logo else (255, 255, 255)
    plate = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(plate).rounded_rectangle(
        (2 * blur, 2 * blur, 2 * blur + plate_size[0] - 1, 2 * blur + plate_size[1] - 1),
        radius=pad * 2,
        fill=round(255 * (0.32 if light_logo else 0.5)),
    )
    plate = plate.filter(ImageFilter.GaussianBlur(blur))
    canvas.paste(Image.new("RGBA", canvas.size, (*plate_colour, 255)), (0, 0), plate)
    canvas.alpha_composite(logo, (2 * blur + pad, 2 * blur + pad))
    alpha = canvas.getchannel("A").point(lambda v: round(v * WATERMARK_OPACITY))
    canvas.putalpha(alpha)
    _, top, right, _ = safe_area(frame_size)
    x = round(right) - canvas.width
    y = round(top)
    return Overlay(canvas, max(0, min(x, width - canvas.width)), max(0, y), frame_size)
