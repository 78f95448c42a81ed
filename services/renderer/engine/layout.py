"""Frame geometry: platform safe areas and the marks the storyboard renderer bakes in.

The local storyboard renderer (`shared.providers.local.frames`) draws a caption panel and a
"n / N" scene counter into every frame. A scene counter has no place in an ad, so the video
erases it (a smooth fill from the surrounding pixels); the caption panel is covered by the
video's own caption card, which must therefore cover wherever the panel travels under the
Ken Burns motion. Both boxes are predicted with the storyboard renderer's own layout code
(its geometry and caption fitting), so they stay right if that layout changes; a unit test
checks the prediction against frames it draws.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from shared.providers.local.frames import (
    _font,
    _geometry,
    _rounded_mask,
    fit_caption,
    text_block_height,
    text_width,
)

Box = tuple[float, float, float, float]


def safe_area(size: tuple[int, int]) -> Box:
    """Where text and logos stay clear of platform UI (fractions follow the storyboard
    renderer: the top ~5% and bottom ~15% of a vertical video are covered by buttons)."""
    width, height = size
    portrait = height > width
    top = 0.045 if portrait else 0.06
    bottom = 0.87 if portrait else 0.92
    return (width * 0.04, height * top, width * 0.96, height * bottom)


def caption_band(size: tuple[int, int]) -> Box:
    """The region a caption card may occupy (the storyboard's caption area, with room for
    the card to grow around the panel it covers)."""
    left, _, right, bottom = safe_area(size)
    return (left, size[1] * 0.55, right, bottom)


def caption_area(size: tuple[int, int]) -> Box:
    """The storyboard renderer's caption area (where its panel is centred)."""
    x0, y0, x1, y1 = _geometry(*size).caption_area
    return (float(x0), float(y0), float(x1), float(y1))


def baked_caption_box(size: tuple[int, int], caption: str) -> Box | None:
    """The caption panel the storyboard renderer draws for `caption` on a frame of `size`
    (mirrors `frames._draw_caption_panel`); None when it draws none."""
    geo = _geometry(*size)
    left, top, right, bottom = geo.caption_area
    pad_x, pad_y = geo.px(4.0, 1), geo.px(2.8, 1)
    box = (right - left - 2 * pad_x, bottom - top - 2 * pad_y)
    font, lines = fit_caption(caption, box, geo.px(6.4, 1), geo.px(3.4, 1))
    if not lines:
        return None
    text_w = max(text_width(font, line) for line in lines)
    panel_w = min(right - left, max(text_w + 2 * pad_x, round((right - left) * 0.55)))
    panel_h = min(bottom - top, text_block_height(font, len(lines)) + 2 * pad_y)
    x = left + (right - left - panel_w) // 2
    y = top + (bottom - top - panel_h) // 2
    return (float(x), float(y), float(x + panel_w), float(y + panel_h))


def counter_box(size: tuple[int, int], scene_count: int) -> Box | None:
    """The scene counter pill (mirrors `frames._draw_counter`), sized for the widest label
    the storyboard can have drawn; None when the frame is too small to carry one."""
    geo = _geometry(*size)
    font_px = geo.px(3.2)
    if font_px < 7:
        return None
    count = max(1, scene_count)
    x, y, w, h = _counter_geometry(size, f"{count} / {count}")
    return (float(x), float(y), float(x + w), float(y + h))


def _counter_geometry(size: tuple[int, int], label: str) -> tuple[int, int, int, int]:
    geo = _geometry(*size)
    font_px = geo.px(3.2)
    font = _font(font_px)
    pad_x, pad_y = round(font_px * 0.7), round(font_px * 0.35)
    ascent, descent = font.getmetrics()
    x, y = geo.counter_xy
    return x, y, text_width(font, label) + 2 * pad_x, ascent + descent + 2 * pad_y


# The counter pill is black at 45% or white at 75% (frames._draw_counter).
_PILLS = (((0.0, 0.0, 0.0), 0.45), ((255.0, 255.0, 255.0), 0.75))


def erase_counter(image: Image.Image, index: int, count: int) -> Image.Image:
    """`image` (a storyboard frame at the size it was drawn) without its "index / count"
    pill. The pill is a known translucent shape, so the picture under it is recovered
    exactly by un-blending it; only the pixels under the label's glyphs are unknown, and
    those are filled by diffusion from around them. If the pill is not where the
    storyboard renderer puts it, the image is returned unchanged."""
    geo = _geometry(*image.size)
    font_px = geo.px(3.2)
    if font_px < 7:
        return image
    label = f"{index} / {count}" if count > 0 else str(index)
    x, y, w, h = _counter_geometry(image.size, label)
    margin = 6
    if x < margin or y < margin or x + w + margin > image.width or y + h + margin > image.height:
        return image
    region = np.asarray(
        image.crop((x - margin, y - margin, x + w + margin, y + h + margin)).convert("RGB"),
        dtype=np.float32,
    )
    shape = np.zeros(region.shape[:2], dtype=np.float32)
    shape[margin:-margin, margin:-margin] = (
        np.asarray(_rounded_mask((w, h), h // 2, 255), dtype=np.float32) / 255
    )
    glyphs = Image.new("L", (w + 2 * margin, h + 2 * margin), 0)
    pad_x, pad_y = round(font_px * 0.7), round(font_px * 0.35)
    ImageDraw.Draw(glyphs).text(
        (margin + pad_x, margin + pad_y), label, font=_font(font_px), fill=255
    )
    # JPEG ringing spreads a few pixels around the glyphs and the pill's edge: those are
    # filled from around them too.
    glyph_area = np.asarray(glyphs.filter(ImageFilter.MaxFilter(9))) > 0
    edge = Image.fromarray(((shape > 0.01) & (shape < 0.99)).astype(np.uint8) * 255)
    edge_area = np.asarray(edge.filter(ImageFilter.MaxFilter(7))) > 0
    unknown = glyph_area | edge_area
    outside = shape == 0
    best: tuple[float, np.ndarray, float] | None = None
    for colour, alpha in _PILLS:
        a = (shape * alpha)[..., None]
        under = (region - np.asarray(colour, dtype=np.float32) * a) / (1 - a)
        inside = (shape > 0.99) & ~unknown
        if not inside.any() or not outside.any():
            return image
        # Right guess: the recovered inside continues the outside (same mean level).
        mismatch = float(np.abs(under[inside].mean(axis=0) - region[outside].mean(axis=0)).max())
        if best is None or mismatch < best[0]:
            best = (mismatch, under, alpha)
    assert best is not None
    mismatch, under, alpha = best
    if mismatch > 24:
        return image
    _diffuse(under, unknown & ~outside | (edge_area & outside))
    recovered = Image.fromarray(np.clip(under + 0.5, 0, 255).astype(np.uint8), "RGB")
    # Un-blending amplifies JPEG noise by 1 / (1 - alpha): smooth it (backgrounds are soft).
    smooth = recovered.filter(ImageFilter.GaussianBlur(1.0 / (1 - alpha)))
    pill = Image.fromarray(((shape > 0) | edge_area).astype(np.uint8) * 255)
    recovered.paste(smooth, (0, 0), pill.filter(ImageFilter.MaxFilter(3)))
    out = image.convert("RGB") if image.mode != "RGB" else image.copy()
    out.paste(recovered, (x - margin, y - margin))
    return out


def _diffuse(pixels: np.ndarray, unknown: np.ndarray, rounds: int = 150) -> None:
    """Fill `unknown` pixels in place with a smooth (harmonic) continuation of the rest."""
    if not unknown.any():
        return
    # Start from each row's known mean, then relax towards the 4-neighbour average.
    for row in np.nonzero(unknown.any(axis=1))[0]:
        known = ~unknown[row]
        pixels[row, unknown[row]] = pixels[row, known].mean(axis=0) if known.any() else 128
    ys, xs = np.nonzero(unknown)
    h, w = unknown.shape
    up, down = np.maximum(ys - 1, 0), np.minimum(ys + 1, h - 1)
    left, right = np.maximum(xs - 1, 0), np.minimum(xs + 1, w - 1)
    for _ in range(rounds):
        pixels[ys, xs] = (
            pixels[up, xs] + pixels[down, xs] + pixels[ys, left] + pixels[ys, right]
        ) / 4
