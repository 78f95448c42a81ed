"""Brand colours: parsing, derived shades and WCAG contrast (the design system's palette)."""

from __future__ import annotations

import re

RGB = tuple[int, int, int]

# Deep indigo, coral, amber, warm off-white: distinct hues that sit well together.
DEFAULT_PALETTE: tuple[str, ...] = ("#2b2d72", "#f2545b", "#f7b32b", "#f5f1e8")

BLACK: RGB = (0, 0, 0)
WHITE: RGB = (255, 255, 255)

_HEX = re.compile(r"^#?(?:[0-9a-fA-F]{3}){1,2}$")
_MIN_COLOURS = 3


def parse_hex(value: str) -> RGB:
    """'#abc' or '#aabbcc' (leading '#' optional) as an (r, g, b) tuple."""
    text = value.strip()
    if not _HEX.match(text):
        raise ValueError(f"not a hex colour: {value!r} (expected '#abc' or '#aabbcc')")
    digits = text.lstrip("#")
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def mix(a: RGB, b: RGB, amount: float) -> RGB:
    """`a` moved `amount` (0..1) of the way towards `b`."""
    return (
        round(a[0] + (b[0] - a[0]) * amount),
        round(a[1] + (b[1] - a[1]) * amount),
        round(a[2] + (b[2] - a[2]) * amount),
    )


def relative_luminance(colour: RGB) -> float:
    """WCAG 2.x relative luminance (0 = black, 1 = white)."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = colour
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast_ratio(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio between two colours, from 1.0 (same) to 21.0 (black on white)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def readable_text_color(background: RGB) -> RGB:
    """Black or white, whichever contrasts more with `background` (always >= 4.5:1)."""
    return (
        BLACK if contrast_ratio(background, BLACK) >= contrast_ratio(background, WHITE) else WHITE
    )


def _shades(base: RGB, needed: int) -> list[RGB]:
    # Light colours get darker companions, dark ones lighter, mid-tones one of each, so
    # derived shades stay distinguishable from the base.
    lum = relative_luminance(base)
    if lum > 0.55:
        steps = [mix(base, BLACK, 0.35), mix(base, BLACK, 0.6)]
    elif lum < 0.08:
        steps = [mix(base, WHITE, 0.3), mix(base, WHITE, 0.55)]
    else:
        steps = [mix(base, BLACK, 0.4), mix(base, WHITE, 0.45)]
    return steps[:needed]


def brand_palette(colors: list[str]) -> list[tuple[int, int, int]]:
    """The brand's colours (at least three): the given ones in order, topped up with
    lighter/darker shades of the first, or DEFAULT_PALETTE when none are given."""
    if not colors:
        return [parse_hex(c) for c in DEFAULT_PALETTE]
    palette = [parse_hex(c) for c in colors]
    if len(palette) < _MIN_COLOURS:
        palette += _shades(palette[0], _MIN_COLOURS - len(palette))
    return palette
