"""Dominant colours of an image (brand palette from a logo), by Pillow's median cut.

Example::

    dominant_colors(Image.open("logo.png"))   # ["#ff3366", "#1a1a2e", "#ffffff"]
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SAMPLE_PX = 128
# A logo's transparent background is not one of its colours.
OPAQUE = 128
# A colour under this share of the opaque pixels is anti-aliasing or noise.
MIN_SHARE = 0.02


def dominant_colors(image: Image.Image, count: int = 5) -> list[str]:
    """Up to `count` colours as `#rrggbb`, most frequent first, ignoring transparency."""
    sample = image.convert("RGBA")
    sample.thumbnail((SAMPLE_PX, SAMPLE_PX))
    pixels = np.asarray(sample)
    opaque = pixels[pixels[..., 3] >= OPAQUE][:, :3]
    if len(opaque) == 0:
        return []
    strip = Image.fromarray(np.ascontiguousarray(opaque.reshape(1, -1, 3)), "RGB")
    quantized = strip.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    total = len(opaque)
    counts: list[tuple[int, int]] = quantized.getcolors() or []  # type: ignore[assignment]
    colors: list[str] = []
    for share, index in sorted(counts, reverse=True):
        if share / total < MIN_SHARE:
            continue
        r, g, b = palette[index * 3 : index * 3 + 3]
        hex_color = f"#{r:02x}{g:02x}{b:02x}"
        if hex_color not in colors:
            colors.append(hex_color)
    return colors
