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
from PIL import Image

from shared.providers.local.frames import (
    _font,
    _geometry,
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
    return tuple(float(v) for v in _geometry(*size).caption_area)  # type: ignore[return-value]


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
    font = _font(font_px)
    count = max(1, scene_count)
    label = f"{count} / {count}".replace("1", "8")  # widest digits
    pad_x, pad_y = round(font_px * 0.7), round(font_px * 0.35)
    ascent, descent = font.getmetrics()
    x, y = geo.counter_xy
    return (
        float(x),
        float(y),
        float(x + text_width(font, label) + 2 * pad_x),
        float(y + ascent + descent + 2 * pad_y),
    )


def erase_box(image: Image.Image, box: Box, margin: int) -> Image.Image:
    """`image` with `box` (grown by `margin`) replaced by a smooth fill interpolated from
    the pixels around it (a Coons patch), which blends into gradients and soft shapes."""
    width, height = image.size
    x0 = max(3, int(box[0]) - margin)
    y0 = max(3, int(box[1]) - margin)
    x1 = min(width - 3, int(round(box[2])) + margin)
    y1 = min(height - 3, int(round(box[3])) + margin)
    if x1 <= x0 or y1 <= y0:
        return image
    # Work on the box and its 3-pixel border only: the frame itself is never copied.
    region = np.asarray(image.crop((x0 - 3, y0 - 3, x1 + 3, y1 + 3)).convert("RGB"), np.float32)
    h, w = y1 - y0, x1 - x0
    inner = region[3:-3, 3:-3]
    # Average three rows/columns of the border so JPEG noise does not streak the fill.
    top = region[0:3, 3:-3].mean(axis=0)
    bottom = region[-3:, 3:-3].mean(axis=0)
    left = region[3:-3, 0:3].mean(axis=1)
    right = region[3:-3, -3:].mean(axis=1)
    u = ((np.arange(w, dtype=np.float32) + 1) / (w + 1))[None, :, None]
    v = ((np.arange(h, dtype=np.float32) + 1) / (h + 1))[:, None, None]
    corners = (
        (1 - u) * (1 - v) * region[2, 2]
        + u * (1 - v) * region[2, -3]
        + (1 - u) * v * region[-3, 2]
        + u * v * region[-3, -3]
    )
    fill = (
        (1 - v) * top[None, :, :]
        + v * bottom[None, :, :]
        + (1 - u) * left[:, None, :]
        + u * right[:, None, :]
        - corners
    )
    assert fill.shape == inner.shape
    patch = Image.fromarray(np.clip(fill + 0.5, 0, 255).astype(np.uint8), "RGB")
    out = image.convert("RGB") if image.mode != "RGB" else image.copy()
    out.paste(patch, (x0, y0))
    return out
