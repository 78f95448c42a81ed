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

from shared.providers.local.frames import _font, line_pitch, text_block_height, text_width

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


def _wrap(words: Sequence[str], font: ImageFont.FreeTypeFont, width: int) -> list[str] | None:
    """Greedy wrap; None if some word is wider than a line at this size."""
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if text_width(font, candidate) <= width:
            current = candidate
            continue
        if text_width(font, word) > width:
            return None
        if current:
            lines.append(current)
        current = word
    if current:
        lines.append(current)
    return lines


def _balanced(
    words: Sequence[str], font: ImageFont.FreeTypeFont, width: int, lines: list[str]
) -> list[str]:
    # Same line count at the narrowest width that keeps it: an even block, no stray word.
    lo = max(text_width(font, word) for word in words)
    hi, best = width, lines
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = _wrap(words, font, mid)
        if candidate is not None and len(candidate) <= len(lines):
            best, hi = candidate, mid - 1
        else:
            lo = mid + 1
    return best


def _ellipsize(text: str, font: ImageFont.FreeTypeFont, width: int) -> str:
    while text and text_width(font, text + "…") > width:
        text = text[:-1].rstrip()
    return text + "…" if text else ""


def fit_text(
    text: str, box: tuple[int, int], max_px: int, min_px: int, load: FontLoader
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest font in [min_px, max_px] at which `text` wraps into `box` (w, h), and
    its lines; at the smallest size, lines that do not fit are dropped and the last one
    ends with an ellipsis (a word wider than the box is cut)."""
    width, height = max(1, box[0]), max(1, box[1])
    words = text.split()
    lo, hi = max(1, min(min_px, max_px)), max(1, max_px)
    if not words:
        return load(hi), []
    best: tuple[ImageFont.FreeTypeFont, list[str]] | None = None
    while lo <= hi:
        size = (lo + hi) // 2
        font = load(size)
        lines = _wrap(words, font, width)
        if lines is not None and text_block_height(font, len(lines)) <= height:
            best, lo = (font, lines), size + 1
        else:
            hi = size - 1
    if best is not None:
        font, lines = best
        return font, _balanced(words, font, width, lines)
    font = load(max(1, min(min_px, max_px)))
    lines = []
    for word in words:
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and text_width(font, candidate) <= width:
            lines[-1] = candidate
        else:
            lines.append(word if text_width(font, word) <= width else _ellipsize(word, font, width))
    fitting = len(lines)
    while fitting > 1 and text_block_height(font, fitting) > height:
        fitting -= 1
    if fitting < len(lines):
        lines = [*lines[: fitting - 1], _ellipsize(lines[fitting - 1], font, width)]
    return font, [line for line in lines if line]


def block_size(font: ImageFont.FreeTypeFont, lines: Sequence[str]) -> tuple[int, int]:
    """Width and height of `lines` set in `font`."""
    width = max((text_width(font, line) for line in lines), default=0)
    return width, text_block_height(font, len(lines))


__all__ = ["FontLoader", "block_size", "fit_text", "font_loader", "line_pitch", "text_width"]
