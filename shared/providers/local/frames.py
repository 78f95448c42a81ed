"""Storyboard frames for the offline `local` engine, drawn with Pillow.

A frame is a brand-coloured gradient with soft bands, a few crisp geometric accents laid
out per story beat, the product image on a card, the caption on a legible panel inside the
platform safe area (a button for the call to action) and a scene counter. Every dimension
is derived from the frame size, and the same inputs always give the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps, ImageStat

from shared.creative.palette import (
    BLACK,
    RGB,
    WHITE,
    brand_palette,
    contrast_ratio,
    mix,
    readable_text_color,
    relative_luminance,
)

JPEG_QUALITY = 88
MAX_SIDE = 8192
BEATS = ("hook", "problem", "solution", "benefit", "cta")

_BOLD_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
_ELLIPSIS = "…"
_EXIF_ORIENTATION = 0x0112
# Short side of the canvas the smooth background is built on before it is scaled up.
_BACKGROUND_SHORT_SIDE = 128
# Upper bound on the pixels of one supersampled shape mask (keeps big discs cheap).
_SUPERSAMPLE_BUDGET = 4_000_000

_CALM_TONES = (
    "calm",
    "clean",
    "elegant",
    "luxur",
    "minimal",
    "premium",
    "professional",
    "serene",
    "serious",
    "sophisticated",
    "trust",
)
_LIVELY_TONES = (
    "bold",
    "bright",
    "energetic",
    "exciting",
    "friendly",
    "fun",
    "playful",
    "quirky",
    "vibrant",
    "young",
)

Box = tuple[int, int, int, int]


# --------------------------------------------------------------------------- fonts + text


_font_cache = threading.local()


def _font(size: int) -> ImageFont.FreeTypeFont:
    # One cache per thread: a FreeType face must not be shared by threads drawing at once,
    # and the backend draws scenes concurrently in worker threads.
    cache: dict[int, ImageFont.FreeTypeFont] | None = getattr(_font_cache, "fonts", None)
    if cache is None:
        cache = _font_cache.fonts = {}
    size = max(1, size)
    font = cache.get(size)
    if font is None:
        font = _load_font(size)
        cache[size] = font
    return font


def _load_font(size: int) -> ImageFont.FreeTypeFont:
    if _BOLD_FONT.is_file():
        try:
            return ImageFont.truetype(str(_BOLD_FONT), size)
        except OSError:
            pass
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise RuntimeError("Pillow was built without FreeType; scalable fonts are required")
    return font


def text_width(font: ImageFont.FreeTypeFont, text: str) -> int:
    """Pixels the ink of `text` spans when drawn at x = 0 (counting any overhang left of 0)."""
    if not text:
        return 0
    left, _, right, _ = font.getbbox(text)
    return int(right - min(0, left))


@lru_cache(maxsize=8192)
def _measure(size: int, text: str) -> int:
    return text_width(_font(size), text)


def _width(font: ImageFont.FreeTypeFont, text: str) -> int:
    # Wrapping, balancing and shrinking measure the same strings over and over.
    return _measure(int(font.size), text)


def line_pitch(font: ImageFont.FreeTypeFont) -> int:
    """Distance between the tops of consecutive caption lines."""
    ascent, descent = font.getmetrics()
    return ascent + descent + round(int(font.size) * 0.08)


def text_block_height(font: ImageFont.FreeTypeFont, line_count: int) -> int:
    """Height of `line_count` lines: full pitch between lines, no gap after the last."""
    if line_count <= 0:
        return 0
    ascent, descent = font.getmetrics()
    return (line_count - 1) * line_pitch(font) + ascent + descent


def _longest_prefix(font: ImageFont.FreeTypeFont, word: str, width: int) -> int:
    lo, hi = 0, len(word)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _width(font, word[:mid]) <= width:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _wrap(words: Sequence[str], font: ImageFont.FreeTypeFont, width: int) -> list[str] | None:
    """Greedy word wrap; words wider than a line are broken. None if not even one
    character fits on a line."""
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if _width(font, candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while _width(font, word) > width:
            cut = _longest_prefix(font, word, width)
            if cut == 0:
                return None
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines


def _balanced(
    words: Sequence[str], font: ImageFont.FreeTypeFont, width: int, lines: list[str]
) -> list[str]:
    """The same number of lines, wrapped at the narrowest width that keeps it, so a
    caption reads as an even block rather than a long line and a stray word."""
    # Never narrower than the widest word, or balancing would start breaking words.
    lo = min(width, max(_width(font, word) for word in words))
    hi, best = width, lines
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = _wrap(words, font, mid)
        if candidate is not None and len(candidate) <= len(lines):
            best, hi = candidate, mid - 1
        else:
            lo = mid + 1
    return best


def _with_ellipsis(line: str, font: ImageFont.FreeTypeFont, width: int) -> str | None:
    text = line.rstrip(" .,;:!?-")
    while text and _width(font, text + _ELLIPSIS) > width:
        text = text[:-1].rstrip(" .,;:!?-")
    if text:
        return text + _ELLIPSIS
    return _ELLIPSIS if _width(font, _ELLIPSIS) <= width else None


def _truncated(
    words: Sequence[str], font: ImageFont.FreeTypeFont, box: tuple[int, int]
) -> list[str]:
    width, height = box
    lines = _wrap(words, font, width) or []
    fitting = len(lines)
    while fitting and text_block_height(font, fitting) > height:
        fitting -= 1
    if fitting == len(lines):
        return lines
    while fitting:
        last = _with_ellipsis(lines[fitting - 1], font, width)
        if last is not None:
            return [*lines[: fitting - 1], last]
        fitting -= 1
    return []


def fit_caption(
    text: str,
    box: tuple[int, int],
    max_font_px: int,
    min_font_px: int,
    load: Callable[[int], ImageFont.FreeTypeFont] | None = None,
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest font (between the two sizes) at which `text`, word-wrapped, fits in
    `box` (width, height), and its lines. Words too long for a line are broken; if even
    the smallest size does not fit, the text is cut with an ellipsis. Every line's
    `text_width` is <= width and `text_block_height` of the lines is <= height.
    `load` gives the font at a pixel size (default: the frames' face; the video engine
    passes a brand font)."""
    load = load or _font
    width, height = max(0, box[0]), max(0, box[1])
    smallest = max(1, min(min_font_px, max_font_px))
    largest = max(1, max_font_px)
    words = text.split()
    if not words:
        return load(largest), []
    best: tuple[ImageFont.FreeTypeFont, list[str]] | None = None
    # Fit is (nearly) monotonic in the size, so binary search; each answer is verified.
    lo, hi = smallest, largest
    while lo <= hi:
        size = (lo + hi) // 2
        font = load(size)
        lines = _wrap(words, font, width)
        if lines is not None and text_block_height(font, len(lines)) <= height:
            best = (font, lines)
            lo = size + 1
        else:
            hi = size - 1
    if best is not None:
        font, lines = best
        return font, _balanced(words, font, width, lines)
    font = load(smallest)
    return font, _truncated(words, font, (width, height))


# --------------------------------------------------------------------------- style + layout


@dataclass(frozen=True)
class _Style:
    """The look shared by every scene of one job (seeded by the job)."""

    base: RGB
    blend: RGB
    glow: RGB
    accents: tuple[RGB, RGB]
    palette: tuple[RGB, ...]
    dark_panel: bool
    energy: float


@dataclass(frozen=True)
class _Geometry:
    width: int
    height: int
    unit: float  # 1% of the short side
    counter_xy: tuple[int, int]
    product_area: Box
    caption_area: Box

    def px(self, units: float, minimum: int = 0) -> int:
        return max(minimum, round(self.unit * units))


@dataclass(frozen=True)
class _Accent:
    kind: str  # "disc" | "ring"
    x: float  # centre, fraction of width
    y: float  # centre, fraction of height
    r: float  # radius, fraction of the short side
    slot: int  # 0/1 = accent colours, 2 = white, 3 = dark
    alpha: float
    ring: float = 0.0  # ring thickness, fraction of the short side


@dataclass(frozen=True)
class _Band:
    y: float  # where the band crosses the vertical centre line, fraction of height
    angle: float  # degrees
    thickness: float  # fraction of the short side
    slot: int
    alpha: float


# Per beat: bands (soft, in the background) and accents (crisp). Mirrored/jittered per
# variant. Hook bursts from a corner, problem is heavy and off-balance, solution haloes
# the product, benefit rises, cta frames the button.
_BANDS: dict[str, tuple[_Band, ...]] = {
    "hook": (_Band(0.38, -24, 0.30, 2, 0.16),),
    "problem": (_Band(0.30, 58, 0.22, 3, 0.30), _Band(0.62, 58, 0.10, 3, 0.22)),
    "solution": (),
    "benefit": (_Band(0.56, -8, 0.38, 2, 0.13), _Band(0.30, -8, 0.06, 2, 0.10)),
    "cta": (_Band(0.74, 14, 0.46, 2, 0.14),),
}
_ACCENTS: dict[str, tuple[_Accent, ...]] = {
    "hook": (
        _Accent("disc", 0.96, 0.06, 0.50, 0, 0.85),
        _Accent("ring", 0.06, 0.56, 0.24, 2, 0.55, 0.022),
        _Accent("disc", 0.80, 0.44, 0.055, 1, 1.0),
        _Accent("disc", 0.16, 0.16, 0.03, 2, 0.9),
    ),
    "problem": (
        _Accent("disc", -0.02, 0.30, 0.38, 3, 0.45),
        _Accent("ring", 0.86, 0.24, 0.11, 2, 0.35, 0.012),
        _Accent("disc", 0.92, 0.56, 0.04, 1, 0.8),
    ),
    "solution": (
        _Accent("ring", 0.5, 0.34, 0.42, 2, 0.28, 0.010),
        _Accent("ring", 0.5, 0.34, 0.54, 2, 0.16, 0.006),
        _Accent("disc", 0.86, 0.58, 0.06, 0, 0.95),
        _Accent("disc", 0.09, 0.50, 0.035, 1, 0.9),
    ),
    "benefit": (
        _Accent("disc", 0.14, 0.58, 0.03, 2, 0.9),
        _Accent("disc", 0.26, 0.47, 0.045, 1, 0.9),
        _Accent("disc", 0.80, 0.26, 0.065, 0, 0.9),
        _Accent("ring", 0.94, 0.20, 0.16, 2, 0.45, 0.016),
        _Accent("disc", 1.02, 0.62, 0.22, 1, 0.55),
    ),
    "cta": (
        _Accent("disc", -0.02, 0.96, 0.46, 0, 0.9),
        _Accent("disc", 1.02, 0.90, 0.30, 1, 0.85),
        _Accent("ring", 0.5, 0.32, 0.46, 2, 0.22, 0.010),
        _Accent("disc", 0.86, 0.12, 0.04, 2, 0.9),
    ),
}


def _rng(*parts: object) -> random.Random:
    # Hash explicitly so the layout does not depend on PYTHONHASHSEED or Random's str seeding.
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _energy(tone: str | None) -> float:
    text = (tone or "").lower()
    if any(word in text for word in _LIVELY_TONES):
        return 1.2
    if any(word in text for word in _CALM_TONES):
        return 0.7
    return 1.0


def _colour_distance(a: RGB, b: RGB) -> float:
    return math.dist(a, b)


def _job_style(seed: str, palette: list[RGB], tone: str | None) -> _Style:
    rng = _rng("style", seed)
    base = palette[0] if rng.random() < 0.7 else palette[1]
    others = [c for c in palette if c != base] or [mix(base, WHITE, 0.4)]
    # Accents are the brand colours that stand out most from the background.
    ranked = sorted(others, key=lambda c: -_colour_distance(c, base))
    first = ranked[0]
    second = ranked[1] if len(ranked) > 1 else mix(first, WHITE, 0.35)
    energy = _energy(tone)
    dark_panel = energy < 0.9 or rng.random() < 0.6
    # Mostly one hue: mixing two brand hues across the whole frame turns muddy, so the
    # gradient runs between shades of the base and the other colours go to the accents.
    light = relative_luminance(base) > 0.45
    shade = mix(base, BLACK, 0.35) if light else mix(base, WHITE, 0.22)
    bloom = mix(base, WHITE, 0.45) if rng.random() < 0.6 else mix(second, base, 0.45)
    return _Style(
        base=base,
        blend=mix(shade, first, 0.12),
        glow=bloom,
        accents=(first, second),
        palette=tuple(palette),
        dark_panel=dark_panel,
        energy=energy,
    )


def _geometry(width: int, height: int) -> _Geometry:
    unit = min(width, height) / 100
    margin_x = round(width * 0.10)
    # Platform UI (TikTok/Reels buttons, captions) covers the bottom ~15% and the top ~5%.
    caption_area = (margin_x, round(height * 0.60), width - margin_x, round(height * 0.85))
    product_area = (margin_x, round(height * 0.11), width - margin_x, round(height * 0.57))
    return _Geometry(
        width=width,
        height=height,
        unit=unit,
        counter_xy=(margin_x, round(height * 0.045)),
        product_area=product_area,
        caption_area=caption_area,
    )


def _slot_colour(style: _Style, slot: int) -> RGB:
    if slot in (0, 1):
        return style.accents[slot]
    if slot == 2:
        return WHITE
    return mix(style.base, BLACK, 0.55)


# --------------------------------------------------------------------------- shapes


def _supersample(area: int) -> int:
    return max(1, min(4, int(math.sqrt(_SUPERSAMPLE_BUDGET / max(1, area)))))


def blend_ellipse(
    frame: Image.Image,
    box: tuple[float, float, float, float],
    colour: RGB,
    alpha: float,
    ring: int = 0,
) -> None:
    """Anti-aliased disc (or ring of `ring` px) blended onto `frame`, clipped to it."""
    left, top = max(0, math.floor(box[0])), max(0, math.floor(box[1]))
    right, bottom = min(frame.width, math.ceil(box[2])), min(frame.height, math.ceil(box[3]))
    if right <= left or bottom <= top or alpha <= 0:
        return
    ss = _supersample((right - left) * (bottom - top))
    mask = Image.new("L", ((right - left) * ss, (bottom - top) * ss), 0)
    shape = [(box[0] - left) * ss, (box[1] - top) * ss, (box[2] - left) * ss, (box[3] - top) * ss]
    value = round(255 * min(1.0, alpha))
    draw = ImageDraw.Draw(mask)
    if ring:
        draw.ellipse(shape, outline=value, width=max(1, ring * ss))
    else:
        draw.ellipse(shape, fill=value)
    if ss > 1:
        mask = mask.reduce(ss)
    frame.paste(colour, (left, top, right, bottom), mask)


def _rounded_mask(size: tuple[int, int], radius: int, value: int = 255) -> Image.Image:
    """Anti-aliased rounded-rectangle mask of exactly `size`."""
    width, height = max(1, size[0]), max(1, size[1])
    ss = _supersample(width * height)
    mask = Image.new("L", (width * ss, height * ss), 0)
    radius = min(radius, width // 2, height // 2)
    ImageDraw.Draw(mask).rounded_rectangle(
        (0, 0, width * ss - 1, height * ss - 1), radius=radius * ss, fill=value
    )
    return mask.reduce(ss) if ss > 1 else mask


def _soft_shadow(
    frame: Image.Image, box: Box, radius: int, geo: _Geometry, strength: float
) -> None:
    """A blurred dark rounded shape under `box`, blurred at low resolution for speed."""
    blur = geo.px(2.4, 1)
    offset = geo.px(1.2)
    left, top = box[0] - blur * 2, box[1] - blur * 2 + offset
    width, height = box[2] - box[0] + blur * 4, box[3] - box[1] + blur * 4
    scale = 4 if min(width, height) >= 32 else 1
    small = Image.new("L", (max(1, width // scale), max(1, height // scale)), 0)
    inset = blur * 2 // scale
    ImageDraw.Draw(small).rounded_rectangle(
        (inset, inset, small.width - inset - 1, small.height - inset - 1),
        radius=max(0, radius // scale),
        fill=round(255 * strength),
    )
    small = small.filter(ImageFilter.GaussianBlur(max(0.5, blur / scale)))
    frame.paste(BLACK, (left, top), small.resize((width, height), Image.Resampling.BILINEAR))


def _mean_colour(frame: Image.Image, box: Box) -> RGB:
    region = frame.crop(box)
    if region.width * region.height > 4096:
        region = region.reduce(max(1, min(region.width, region.height) // 32))
    r, g, b = (round(v) for v in ImageStat.Stat(region).mean[:3])
    return (r, g, b)


# --------------------------------------------------------------------------- background


def _linear_mask(size: tuple[int, int], angle: float) -> Image.Image:
    """0→255 gradient across `size` along `angle` degrees."""
    side = math.ceil(math.hypot(*size)) + 2
    ramp = Image.linear_gradient("L").resize((side, side), Image.Resampling.BILINEAR)
    ramp = ramp.rotate(angle, resample=Image.Resampling.BILINEAR)
    left, top = (side - size[0]) // 2, (side - size[1]) // 2
    return ramp.crop((left, top, left + size[0], top + size[1]))


def _band_polygon(
    size: tuple[int, int], band: _Band, mirror: bool, jitter: float
) -> list[tuple[float, float]]:
    width, height = size
    cy = (band.y + jitter) * height
    angle = math.radians(-band.angle if mirror else band.angle)
    dx, dy = math.cos(angle), math.sin(angle)
    half = band.thickness * min(size) / 2
    reach = math.hypot(width, height)
    cx = width / 2
    nx, ny = -dy * half, dx * half
    return [
        (cx - dx * reach + nx, cy - dy * reach + ny),
        (cx + dx * reach + nx, cy + dy * reach + ny),
        (cx + dx * reach - nx, cy + dy * reach - ny),
        (cx - dx * reach - nx, cy - dy * reach - ny),
    ]


def _background(
    geo: _Geometry, style: _Style, beat: str, rng: random.Random, mirror: bool
) -> Image.Image:
    # Built small and scaled up: gradients and soft bands need no detail, and the upscale
    # itself softens every edge.
    scale = min(1.0, _BACKGROUND_SHORT_SIDE / min(geo.width, geo.height))
    size = (max(1, round(geo.width * scale)), max(1, round(geo.height * scale)))
    mask = _linear_mask(size, rng.uniform(0, 360))
    canvas = Image.composite(
        Image.new("RGB", size, style.blend), Image.new("RGB", size, style.base), mask
    )
    _add_glow(canvas, style, beat, rng, mirror)
    draw = ImageDraw.Draw(canvas, "RGBA")
    for band in _BANDS[beat]:
        alpha = min(1.0, band.alpha * style.energy)
        colour = (*_slot_colour(style, band.slot), round(255 * alpha))
        draw.polygon(_band_polygon(size, band, mirror, rng.uniform(-0.05, 0.05)), fill=colour)
    if beat == "problem":
        canvas = Image.blend(canvas, Image.new("RGB", size, mix(style.base, BLACK, 0.6)), 0.3)
    canvas = canvas.filter(ImageFilter.GaussianBlur(max(0.5, min(size) / 160)))
    if canvas.size == (geo.width, geo.height):
        return canvas
    return canvas.resize((geo.width, geo.height), Image.Resampling.BICUBIC)


def _add_glow(
    canvas: Image.Image, style: _Style, beat: str, rng: random.Random, mirror: bool
) -> None:
    width, height = canvas.size
    if beat in ("solution", "cta"):
        cx, cy = 0.5 * width, (0.34 if beat == "solution" else 0.72) * height
    else:
        cx = rng.uniform(0.15, 0.45) * width
        cx = width - cx if mirror else cx
        cy = rng.uniform(0.15, 0.5) * height
    radius = max(1, round(max(width, height) * rng.uniform(0.45, 0.65)))
    # radial_gradient is 0 at the centre and 255 at its corners (~181 px from the centre).
    falloff = Image.radial_gradient("L").crop((0, 0, 256, 256))
    falloff = falloff.point(lambda v: round(max(0, 255 - v * 1.41) * 0.55))
    falloff = falloff.resize((radius * 2, radius * 2), Image.Resampling.BILINEAR)
    canvas.paste(style.glow, (round(cx) - radius, round(cy) - radius), falloff)


def _draw_accents(
    frame: Image.Image, geo: _Geometry, style: _Style, beat: str, rng: random.Random, mirror: bool
) -> None:
    short = min(geo.width, geo.height)
    for accent in _ACCENTS[beat]:
        small = accent.r < 0.05
        if style.energy < 0.9 and small:
            continue  # calm tones keep only the larger shapes
        jitter = 0.0 if accent.x == 0.5 else 0.04
        x = accent.x + rng.uniform(-jitter, jitter)
        x = 1 - x if mirror else x
        y = accent.y + rng.uniform(-jitter, jitter)
        r = accent.r * short * rng.uniform(0.9, 1.1)
        cx, cy = x * geo.width, y * geo.height
        alpha = min(1.0, accent.alpha * style.energy)
        ring = max(1, round(accent.ring * short)) if accent.kind == "ring" else 0
        blend_ellipse(
            frame, (cx - r, cy - r, cx + r, cy + r), _slot_colour(style, accent.slot), alpha, ring
        )
    if style.energy > 1.1:
        for _ in range(3):
            cx, cy = rng.uniform(0.05, 0.95) * geo.width, rng.uniform(0.05, 0.55) * geo.height
            r = short * rng.uniform(0.008, 0.02)
            blend_ellipse(frame, (cx - r, cy - r, cx + r, cy + r), WHITE, 0.8)


# --------------------------------------------------------------------------- product


def decode_product_image(data: bytes, box: tuple[int, int]) -> Image.Image:
    """The product image as RGBA, decoded no larger than needed to fill `box`;
    ValueError if `data` is not a readable image."""
    if not data:
        raise ValueError("product_image is empty")
    try:
        # No context manager: closing would free the pixels, and there is no file to leak.
        opened = Image.open(io.BytesIO(data))
        # JPEGs can decode at 1/2..1/8 scale: much faster for big photos in a small box.
        scale = min(1.0, box[0] / opened.width, box[1] / opened.height)
        opened.draft("RGB", (math.ceil(opened.width * scale), math.ceil(opened.height * scale)))
        opened.load()
        source: Image.Image = opened
        if source.getexif().get(_EXIF_ORIENTATION, 1) != 1:
            source = ImageOps.exif_transpose(source)
        image = source if source.mode == "RGBA" else source.convert("RGBA")
    # Corrupt files surface from deep inside Pillow as many exception types; callers get one.
    except Exception as exc:
        raise ValueError(f"product_image is not a readable image: {exc}") from exc
    if image.width < 1 or image.height < 1:
        raise ValueError("product_image has no pixels")
    return image


def _has_transparency(image: Image.Image) -> bool:
    low, _ = image.getchannel("A").getextrema()
    return bool(low < 250)  # type: ignore[operator]


@dataclass(frozen=True)
class _Product:
    """The product scaled for one frame layout: RGB pixels, alpha, card padding."""

    pixels: Image.Image
    alpha: Image.Image
    pad: int  # > 0: a cut-out that sits on a light card


def _fit_product(product: Image.Image, geo: _Geometry) -> _Product:
    left, top, right, bottom = geo.product_area
    # Cut-outs sit on a light card so any product colour reads; photos become the card.
    pad = geo.px(3.5, 1) if _has_transparency(product) else 0
    max_w = max(1, round((right - left) * 0.86) - 2 * pad)
    max_h = max(1, round((bottom - top) * 0.92) - 2 * pad)
    scale = min(max_w / product.width, max_h / product.height)
    size = (max(1, round(product.width * scale)), max(1, round(product.height * scale)))
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC
    image = product.resize(size, resample, reducing_gap=3.0)
    return _Product(pixels=image.convert("RGB"), alpha=image.getchannel("A"), pad=pad)


_PRODUCT_CACHE_SIZE = 8
_product_cache: OrderedDict[tuple[bytes, Box], _Product] = OrderedDict()
_product_lock = threading.Lock()


def _product_for(data: bytes, geo: _Geometry) -> _Product:
    # Every scene of a job composites the same upload at the same size: decode it once.
    # Only the small fitted copy is kept, never the full-size decode.
    key = (hashlib.blake2b(data, digest_size=16).digest(), geo.product_area)
    with _product_lock:
        cached = _product_cache.get(key)
        if cached is not None:
            _product_cache.move_to_end(key)
            return cached
    left, top, right, bottom = geo.product_area
    product = _fit_product(decode_product_image(data, (right - left, bottom - top)), geo)
    with _product_lock:
        _product_cache[key] = product
        while len(_product_cache) > _PRODUCT_CACHE_SIZE:
            _product_cache.popitem(last=False)
    return product


def _place_product(frame: Image.Image, product: _Product, geo: _Geometry, style: _Style) -> None:
    left, top, right, bottom = geo.product_area
    pad = product.pad
    card_w, card_h = product.pixels.width + 2 * pad, product.pixels.height + 2 * pad
    x = left + (right - left - card_w) // 2
    y = top + (bottom - top - card_h) // 2
    radius = geo.px(3.2, 1)
    _soft_shadow(frame, (x, y, x + card_w, y + card_h), radius, geo, 0.45)
    card_mask = _rounded_mask((card_w, card_h), radius)
    if pad:
        lightest = max(style.palette, key=relative_luminance)
        card = mix(lightest if relative_luminance(lightest) > 0.7 else WHITE, WHITE, 0.6)
        frame.paste(card, (x, y, x + card_w, y + card_h), card_mask)
        frame.paste(product.pixels, (x + pad, y + pad), product.alpha)
    else:
        frame.paste(product.pixels, (x, y), card_mask)


# --------------------------------------------------------------------------- caption


def _draw_lines(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont,
    lines: Sequence[str],
    centre_x: float,
    top: int,
    colour: RGB,
) -> None:
    pitch = line_pitch(font)
    for i, line in enumerate(lines):
        x = round(centre_x - _width(font, line) / 2)
        draw.text((x, top + i * pitch), line, font=font, fill=colour)


def _panel_colours(style: _Style, under: RGB) -> tuple[RGB, float, RGB]:
    """Panel fill, its opacity and the text colour, judged on the blended result."""
    if style.dark_panel:
        darkest = min(style.palette, key=relative_luminance)
        fill, alpha = mix(darkest, BLACK, 0.65), 0.78
    else:
        fill, alpha = mix(max(style.palette, key=relative_luminance), WHITE, 0.85), 0.9
    seen = mix(under, fill, alpha)
    return fill, alpha, readable_text_color(seen)


def _draw_caption_panel(frame: Image.Image, caption: str, geo: _Geometry, style: _Style) -> None:
    left, top, right, bottom = geo.caption_area
    pad_x, pad_y = geo.px(4.0, 1), geo.px(2.8, 1)
    box = (right - left - 2 * pad_x, bottom - top - 2 * pad_y)
    font, lines = fit_caption(caption, box, geo.px(6.4, 1), geo.px(3.4, 1))
    if not lines:
        return
    text_w = max((_width(font, line) for line in lines), default=0)
    panel_w = min(right - left, max(text_w + 2 * pad_x, round((right - left) * 0.55)))
    panel_h = min(bottom - top, text_block_height(font, len(lines)) + 2 * pad_y)
    x = left + (right - left - panel_w) // 2
    y = top + (bottom - top - panel_h) // 2
    panel = (x, y, x + panel_w, y + panel_h)
    fill, alpha, text_colour = _panel_colours(style, _mean_colour(frame, panel))
    frame.paste(fill, panel, _rounded_mask((panel_w, panel_h), geo.px(2.6, 1), round(255 * alpha)))
    _draw_lines(ImageDraw.Draw(frame), font, lines, x + panel_w / 2, y + pad_y, text_colour)


def _button_colour(style: _Style, under: RGB) -> RGB:
    # The accent colours first (they are the brand's boldest against its background), then
    # the rest of the palette; white/black only if no brand colour stands out.
    for colour in (*style.accents, *style.palette):
        # Hue difference counts too: amber on teal is bold at a modest luminance contrast.
        if contrast_ratio(colour, under) >= 1.8 or _colour_distance(colour, under) >= 150:
            return colour
    return max((WHITE, BLACK), key=lambda c: contrast_ratio(c, under))


def _fit_button_text(
    caption: str, box: tuple[int, int], font_max: int, font_min: int
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    # A button reads best on one line: accept a somewhat smaller font for that first.
    one_line = (box[0], min(box[1], text_block_height(_font(font_max), 1)))
    font, lines = fit_caption(caption, one_line, font_max, max(font_min, round(font_max * 0.6)))
    if len(lines) == 1 and lines[0] == " ".join(caption.split()):
        return font, lines
    # Several lines at the largest size would turn the button into a slab.
    return fit_caption(caption, box, max(font_min, round(font_max * 0.82)), font_min)


def _draw_cta_button(frame: Image.Image, caption: str, geo: _Geometry, style: _Style) -> None:
    left, top, right, bottom = geo.caption_area
    pad_x, pad_y = geo.px(6.0, 1), geo.px(3.2, 1)
    font_max = geo.px(7.6, 1)
    arrow = max(1, round(font_max * 0.42))
    gap = max(1, round(font_max * 0.35))
    box = (right - left - 2 * pad_x - arrow - gap, bottom - top - 2 * pad_y)
    font, lines = _fit_button_text(caption, box, font_max, geo.px(3.6, 1))
    if not lines:
        return
    text_w = max((_width(font, line) for line in lines), default=0)
    block_h = text_block_height(font, len(lines))
    # Chunky padding relative to the font chosen, so a one-line button still looks bold.
    pad_y = max(pad_y, min(round(int(font.size) * 0.6), (bottom - top - block_h) // 2))
    button_w = min(right - left, text_w + gap + arrow + 2 * pad_x)
    button_h = min(bottom - top, block_h + 2 * pad_y)
    x = left + (right - left - button_w) // 2
    y = top + (bottom - top - button_h) // 2
    radius = button_h // 2 if len(lines) <= 1 else geo.px(4.0, 1)
    under = _mean_colour(frame, (x, y, x + button_w, y + button_h))
    colour = _button_colour(style, under)
    halo = geo.px(1.4, 1)
    halo_box = (x - halo, y - halo, x + button_w + halo, y + button_h + halo)
    _soft_shadow(frame, (x, y, x + button_w, y + button_h), radius, geo, 0.5)
    frame.paste(
        mix(colour, WHITE, 0.5),
        halo_box,
        _rounded_mask((button_w + 2 * halo, button_h + 2 * halo), radius + halo, 110),
    )
    frame.paste(
        colour, (x, y, x + button_w, y + button_h), _rounded_mask((button_w, button_h), radius)
    )
    text_colour = readable_text_color(colour)
    draw = ImageDraw.Draw(frame)
    text_left = x + pad_x
    _draw_lines(draw, font, lines, text_left + text_w / 2, y + pad_y, text_colour)
    _draw_arrow(draw, (text_left + text_w + gap, y + button_h / 2), arrow, text_colour)


def _draw_arrow(draw: ImageDraw.ImageDraw, at: tuple[float, float], size: int, colour: RGB) -> None:
    x, cy = at
    half = size * 0.6
    draw.polygon([(x, cy - half), (x + size, cy), (x, cy + half)], fill=colour)


def _draw_counter(frame: Image.Image, index: int, count: int, geo: _Geometry) -> None:
    font_px = geo.px(3.2)
    if font_px < 7:
        return  # unreadable on thumbnails; the caption matters more there
    font = _font(font_px)
    text = f"{index} / {count}" if count > 0 else str(index)
    pad_x, pad_y = round(font_px * 0.7), round(font_px * 0.35)
    ascent, descent = font.getmetrics()
    x, y = geo.counter_xy
    box = (x, y, x + _width(font, text) + 2 * pad_x, y + ascent + descent + 2 * pad_y)
    under = _mean_colour(frame, box)
    fill: RGB = BLACK if relative_luminance(under) < 0.4 else WHITE
    alpha = 0.45 if fill == BLACK else 0.75
    size = (box[2] - box[0], box[3] - box[1])
    frame.paste(fill, box, _rounded_mask(size, size[1] // 2, round(255 * alpha)))
    colour = readable_text_color(mix(under, fill, alpha))
    ImageDraw.Draw(frame).text((x + pad_x, y + pad_y), text, font=font, fill=colour)


# --------------------------------------------------------------------------- entry point


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = int(size[0]), int(size[1])
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ValueError(f"frame size must be 1..{MAX_SIDE} px per side, got {size!r}")
    return width, height


def draw_frame(
    *,
    size: tuple[int, int],
    caption: str,
    beat: str,
    scene_index: int,
    scene_count: int,
    colors: list[str],
    tone: str | None,
    seed: str,
    product_image: bytes | None = None,
    layout_variant: int = 0,
) -> bytes:
    """One storyboard frame as JPEG bytes of exactly `size` (width, height).

    Deterministic: the job look comes from `seed`, the arrangement from `seed`, `beat`,
    `scene_index` and `layout_variant`. Raises ValueError for a bad size, colour or
    unreadable `product_image`.
    """
    width, height = _check_size(size)
    geo = _geometry(width, height)
    product = _product_for(product_image, geo) if product_image is not None else None
    key = beat.strip().lower()
    key = key if key in BEATS else "solution"
    style = _job_style(seed, brand_palette(colors), tone)
    rng = _rng("layout", seed, key, scene_index, layout_variant)
    mirror = rng.random() < 0.5
    frame = _background(geo, style, key, rng, mirror)
    _draw_accents(frame, geo, style, key, rng, mirror)
    if product is not None:
        _place_product(frame, product, geo, style)
    if key == "cta":
        _draw_cta_button(frame, caption, geo, style)
    else:
        _draw_caption_panel(frame, caption, geo, style)
    _draw_counter(frame, scene_index, scene_count, geo)
    out = io.BytesIO()
    frame.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
