"""A scene's picture without text (the plate): the style's background and the product as
the hero. The video moves the plate (pan and zoom) under its fixed text layers; on the
Replicate path the plate is a model's picture with the product composited, and it is the
start image of the scene's clip.

Example::

    plate = draw_plate(design, layout, product=decode_product(png_bytes), scale=1.12)
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from dataclasses import replace
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFilter, ImageOps

from shared.creative.layers import Colours, colours_for, has_alpha_holes
from shared.creative.layout import Box, SceneDesign, SceneLayout
from shared.creative.palette import BLACK, RGB, WHITE, mix

_EXIF_ORIENTATION = 0x0112


def decode_product(data: bytes, max_side: int = 2048) -> Image.Image:
    """The product image as RGBA; ValueError if `data` is not a readable image."""
    if not data:
        raise ValueError("product_image is empty")
    try:
        opened = Image.open(io.BytesIO(data))
        opened.draft("RGB", (max_side, max_side))
        opened.load()
        image: Image.Image = opened
        if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
        image = image.convert("RGBA")
    # Corrupt files surface from deep inside Pillow as many exception types; callers get one.
    except Exception as exc:
        raise ValueError(f"product_image is not a readable image: {exc}") from exc
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def is_cut_out(product: Image.Image) -> bool:
    return has_alpha_holes(product)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@lru_cache(maxsize=32)
def _ramp(width: int, height: int) -> Image.Image:
    # Read only (a mask for `composite`), so one per size serves every plate.
    return Image.linear_gradient("L").resize((width, height))


def _gradient(size: tuple[int, int], top: RGB, bottom: RGB) -> Image.Image:
    # Top to bottom, so every column is alike: one column is interpolated (bicubic, from an
    # eighth of the height) and repeated across; the same pixels as interpolating the whole
    # frame, at a fifteenth of the cost (a 1080x1920 plate: 1.0 against 15.8 ms).
    ramp = _ramp(1, max(1, size[1] // 8))
    small = Image.composite(
        Image.new("RGB", ramp.size, bottom), Image.new("RGB", ramp.size, top), ramp
    )
    column = small.resize((1, size[1]), Image.Resampling.BICUBIC)
    return column.resize(size, Image.Resampling.NEAREST)


def _disc(
    image: Image.Image,
    centre: tuple[float, float],
    radius: float,
    colour: RGB,
    alpha: float,
    blur: float = 0.0,
) -> None:
    # Only the disc's box and its blur's reach are masked and painted: elsewhere the mask
    # is zero, and painting through a frame-sized one cost 10 ms of a 1080x1920 plate.
    # The box is padded past the blur's reach, so the pixels are those of a whole-frame mask.
    cx, cy = centre
    reach = radius + (math.ceil(4 * blur) + 4 if blur else 2)
    left, top = max(0, math.floor(cx - reach)), max(0, math.floor(cy - reach))
    right = min(image.width, math.ceil(cx + reach) + 1)
    bottom = min(image.height, math.ceil(cy + reach) + 1)
    if right <= left or bottom <= top:
        return
    mask = Image.new("L", (right - left, bottom - top), 0)
    x, y = cx - left, cy - top
    ImageDraw.Draw(mask).ellipse(
        (x - radius, y - radius, x + radius, y + radius), fill=round(255 * alpha)
    )
    if blur:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    image.paste(colour, (left, top, right, bottom), mask)


def _background(
    design: SceneDesign, colours: Colours, size: tuple[int, int], product: Image.Image | None
) -> Image.Image:
    width, height = size
    short = min(size)
    rng = _rng("plate", design.seed, design.beat, design.style)
    if design.style == "clean":
        image = _gradient(size, mix(colours.field, WHITE, 0.5), colours.field)
        _disc(
            image,
            (width * 0.5, height * 0.62),
            short * 0.42,
            mix(colours.field, colours.accent, 0.22),
            1.0,
            short * 0.12,
        )
        return image
    if design.style == "social":
        if product is not None and not is_cut_out(product):
            cover = ImageOps.fit(product.convert("RGB"), (width // 6 or 1, height // 6 or 1))
            soft = cover.filter(ImageFilter.GaussianBlur(max(1, short // 60)))
            image = soft.resize(size, Image.Resampling.BICUBIC)
            return Image.blend(image, Image.new("RGB", size, mix(colours.field, BLACK, 0.5)), 0.55)
        image = _gradient(size, mix(colours.field, WHITE, 0.1), mix(colours.accent, BLACK, 0.35))
        _disc(
            image,
            (width * rng.uniform(0.2, 0.8), height * 0.35),
            short * 0.6,
            mix(colours.accent, WHITE, 0.2),
            0.35,
            short * 0.2,
        )
        return image
    # bold: a saturated field, a diagonal band and a big accent disc
    image = _gradient(size, colours.field, colours.shade)
    draw = ImageDraw.Draw(image, "RGBA")
    band = rng.uniform(0.45, 0.6) * height
    slope = short * 0.35 * (1 if rng.random() < 0.5 else -1)
    draw.polygon(
        [
            (0, band - slope),
            (width, band + slope),
            (width, band + slope + short * 0.5),
            (0, band - slope + short * 0.5),
        ],
        fill=(*mix(colours.field, BLACK, 0.22), 150),
    )
    side = 0.9 if rng.random() < 0.5 else 0.1
    _disc(image, (width * side, height * 0.18), short * 0.38, colours.accent, 0.55)
    return image


def _place_product(
    image: Image.Image, product: Image.Image, box: Box, colours: Colours, style: str, unit: float
) -> None:
    x0, y0, x1, y1 = box
    cut_out = is_cut_out(product)
    if cut_out and (visible := product.getchannel("A").getbbox()):
        product = product.crop(visible)  # transparent margins would shrink the hero
    frame_pad = 0 if cut_out else round(unit * 1.6)
    max_w, max_h = (x1 - x0) * 0.9 - 2 * frame_pad, (y1 - y0) * 0.94 - 2 * frame_pad
    scale = min(max_w / product.width, max_h / product.height)
    size = (max(1, round(product.width * scale)), max(1, round(product.height * scale)))
    fitted = product.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    card = (size[0] + 2 * frame_pad, size[1] + 2 * frame_pad)
    x = round(x0 + (x1 - x0 - card[0]) / 2)
    y = round(y0 + (y1 - y0 - card[1]) / 2)
    # A soft shadow under the product (the cut-out's own shape) or under its card.
    shadow_alpha = fitted.getchannel("A") if cut_out else Image.new("L", card, 255)
    blur = max(2.0, unit * 2.2)
    margin = round(blur * 3)
    shadow = Image.new("L", (card[0] + 2 * margin, card[1] + 2 * margin), 0)
    shadow.paste(
        shadow_alpha.point(lambda v: v * 0.5),
        (margin + frame_pad if cut_out else margin, margin + frame_pad if cut_out else margin),
    )
    shadow = shadow.filter(ImageFilter.GaussianBlur(blur))
    offset = round(unit * 1.4)
    image.paste(BLACK, (x - margin, y - margin + offset), shadow)
    if cut_out:
        image.paste(fitted, (x, y), fitted)
        return
    # A photo without alpha becomes a styled card: a white (or dark) frame, rounded.
    radius = round(unit * (3.2 if style != "social" else 2.0))
    frame_colour = WHITE if style != "bold" else mix(colours.field, WHITE, 0.9)
    mask = Image.new("L", (card[0] * 2, card[1] * 2), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (0, 0, card[0] * 2 - 1, card[1] * 2 - 1), radius * 2, fill=255
    )
    image.paste(frame_colour, (x, y, x + card[0], y + card[1]), mask.reduce(2))
    inner = Image.new("L", (size[0] * 2, size[1] * 2), 0)
    ImageDraw.Draw(inner).rounded_rectangle(
        (0, 0, size[0] * 2 - 1, size[1] * 2 - 1), max(0, radius - frame_pad) * 2, fill=255
    )
    image.paste(fitted.convert("RGB"), (x + frame_pad, y + frame_pad), inner.reduce(2))


def draw_plate(
    design: SceneDesign,
    layout: SceneLayout,
    product: Image.Image | None = None,
    scale: float = 1.0,
    picture: Image.Image | None = None,
) -> Image.Image:
    """The scene's plate at `scale` x the frame size (drawn larger for the video, whose
    zoom would otherwise soften it). `picture` (a model's frame) replaces the drawn
    background; the product goes into the layout's product box."""
    width, height = design.size
    size = (max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2))
    colours = colours_for(design.style, design.palette)
    if picture is not None:
        image = ImageOps.fit(picture.convert("RGB"), size, Image.Resampling.LANCZOS)
    else:
        image = _background(design, colours, size, product)
    # The problem beat is darker, except in `clean`, whose dark ink needs its light field.
    if design.beat == "problem" and picture is None and design.style != "clean":
        image = Image.blend(image, Image.new("RGB", size, mix(colours.field, BLACK, 0.7)), 0.35)
    if product is not None and layout.product is not None:
        kx, ky = size[0] / width, size[1] / height
        box = layout.product
        # The plate is shown zoomed about its centre: a box at frame position p sits at
        # the same place when the plate's centre region is shown.
        cx, cy = (size[0] - width * kx) / 2, (size[1] - height * ky) / 2
        scaled = (
            round(box[0] * kx + cx),
            round(box[1] * ky + cy),
            round(box[2] * kx + cx),
            round(box[3] * ky + cy),
        )
        _place_product(image, product, scaled, colours, design.style, min(size) / 100)
    return image


def frame_design(design: SceneDesign, **changes: object) -> SceneDesign:
    return replace(design, **changes)  # type: ignore[arg-type]


__all__ = ["decode_product", "draw_plate", "frame_design", "is_cut_out", "math"]
