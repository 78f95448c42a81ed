"""Fonts and text fitting for captions and the end card.

The default face is the storyboard renderer's (`frames._font`); a brand font file replaces
it when given. Measuring uses the storyboard renderer's public helpers (`text_width`,
`line_pitch`, `text_block_height`), which work for any FreeType face; the storyboard's own
`fit_caption` cannot be reused because it always measures with its default face.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from shared.providers.local.frames import (
    _font,
    fit_caption,
    line_pitch,
    text_block_height,
    text_width,
)

FontLoader = Callable[[int], ImageFont.FreeTypeFont]


@lru_cache(maxsize=64)
def _brand_font(path: str, size: int) -> ImageFont.FreeTypeFont | None:
    try:
        return ImageFont.truetype(path, size)
    except OSError:
        return None


def font_loader(font_path: Path | None) -> FontLoader:
    """Font of a pixel size: the brand font, or the storyboard face if it is missing or
    unreadable (a render should not fail over a caption font)."""

    def load(size: int) -> ImageFont.FreeTypeFont:
        size = max(1, size)
        if font_path is not None:
            font = _brand_font(str(font_path), size)
            if font is not None:
                return font
        return _font(size)

    return load


def fit_text(
    text: str, box: tuple[int, int], max_px: int, min_px: int, load: FontLoader
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest font in [min_px, max_px] at which `text` wraps into `box` (w, h), and
    its lines: the storyboard frames' own fitting, in the video's font."""
    return fit_caption(text, box, max_px, min_px, load)


def block_size(font: ImageFont.FreeTypeFont, lines: Sequence[str]) -> tuple[int, int]:
    """Width and height of `lines` set in `font`."""
    width = max((text_width(font, line) for line in lines), default=0)
    return width, text_block_height(font, len(lines))


__all__ = ["FontLoader", "block_size", "fit_text", "font_loader", "line_pitch", "text_width"]
