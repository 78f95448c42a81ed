"""Scene captions: the video's own caption card, static over the moving picture.

Decision: the storyboard frame's caption panel moves with the Ken Burns motion and is set in
the storyboard face, so the video draws its own card instead: set in the brand font when one
is given, in a style that differs per variation, with the text revealed (fade, wipe or word
by word) as the scene starts. The card is opaque and covers everywhere the frame's panel
travels during the scene (see `timeline`), so the frame's caption never shows through; it
stays inside the platform safe area because it does not move. Contrast is guaranteed by
`palette.readable_text_color` on the card fill (>= 4.5:1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from services.renderer.engine.overlay import Overlay
from services.renderer.engine.text import FontLoader, fit_text, line_pitch, text_width
from shared.providers.local.palette import (
    BLACK,
    RGB,
    WHITE,
    mix,
    readable_text_color,
    relative_luminance,
)

REVEAL_S = 0.5
_SUPERSAMPLE = 2

IntBox = tuple[int, int, int, int]


@dataclass(frozen=True)
class BrandColours:
    dark: RGB
    light: RGB
    accent: RGB
    primary: RGB


def brand_colours(palette: tuple[RGB, ...]) -> BrandColours:
    darkest = min(palette, key=relative_luminance)
    lightest = max(palette, key=relative_luminance)
    # The most colourful brand colour carries accents (bands, bars, buttons).
    accent = max(palette, key=lambda c: (max(c) - min(c), -relative_luminance(c)))
    return BrandColours(
        dark=mix(darkest, BLACK, 0.55),
        light=mix(lightest, WHITE, 0.82),
        accent=accent,
        primary=palette[0],
    )


@dataclass(frozen=True)
class CaptionText:
    """The fitted caption: font size, lines and the block's size in pixels."""

    lines: tuple[str, ...]
    font_px: int
    width: int
    height: int


def fit_caption_text(
    caption: str, box: tuple[int, int], unit: float, load: FontLoader
) -> CaptionText:
    """`caption` fitted into `box` at the storyboard's caption sizes (6.4% .. 3.4% of the
    short side)."""
    font, lines = fit_text(caption, box, round(unit * 6.4), max(1, round(unit * 3.4)), load)
    width = max((text_width(font, line) for line in lines), default=0)
    ascent, descent = font.getmetrics()
    height = (len(lines) - 1) * line_pitch(font) + ascent + descent if lines else 0
    return CaptionText(tuple(lines), int(font.size), width, height)


def _card_fill(style: str, colours: BrandColours) -> RGB:
    if style in ("band", "bubble"):
        return colours.accent
    if style == "card":
        return colours.light
    return colours.dark


def _draw_card(
    style: str, size: tuple[int, int], unit: float, colours: BrandColours
) -> Image.Image:
    """The card shape (RGBA), supersampled for smooth rounded corners."""
    ss = _SUPERSAMPLE
    width, height = size
    big = Image.new("RGBA", (width * ss, height * ss), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    fill = _card_fill(style, colours)
    full = (0, 0, width * ss - 1, height * ss - 1)
    if style == "band":
        draw.rectangle(full, fill=(*fill, 255))
        edge = max(1, round(unit * 0.5)) * ss
        draw.rectangle((0, 0, width * ss - 1, edge - 1), fill=(*mix(fill, WHITE, 0.45), 255))
    elif style == "bubble":
        radius = min(height * ss // 2, round(unit * 5 * ss))
        draw.rounded_rectangle(full, radius=radius, fill=(*fill, 255))
    elif style == "card":
        radius = round(unit * 1.6 * ss)
        draw.rounded_rectangle(full, radius=radius, fill=(*fill, 255))
        bar = max(2, round(unit * 1.2)) * ss
        inset = radius // 2
        draw.rectangle((inset, inset, inset + bar, height * ss - 1 - inset), fill=colours.accent)
    else:  # panel, underline
        radius = round(unit * (1.4 if style == "underline" else 2.6) * ss)
        draw.rounded_rectangle(full, radius=radius, fill=(*fill, 255))
    return big.reduce(ss)


@dataclass
class _Reveal:
    kind: str
    frames: int
    word_map: np.ndarray | None = None  # word number + 1 per pixel (0 = no word)
    word_map_c: np.ndarray | None = None
    words: int = 0


class CaptionLayer:
    """A scene's caption card: `apply(buffer, progress)` draws it with the text revealed to
    `progress` (0..1). Overlays are converted on first use: a clip that only shows a
    neighbour's card during a transition never pays for the reveal layers."""

    def __init__(
        self,
        card: Image.Image,
        ink: Image.Image | None,
        at: tuple[int, int],
        frame_size: tuple[int, int],
        reveal: _Reveal,
    ) -> None:
        self._images = (card, ink)
        self._at, self._frame_size, self._reveal = at, frame_size, reveal
        self._overlays: dict[str, Overlay] = {}

    def _overlay(self, name: str) -> Overlay:
        overlay = self._overlays.get(name)
        if overlay is None:
            card, ink = self._images
            image = card
            if name == "full" and ink is not None:
                image = card.copy()
                image.alpha_composite(ink)
            elif name == "ink" and ink is not None:
                image = ink
            overlay = Overlay(image, *self._at, self._frame_size)
            self._overlays[name] = overlay
        return overlay

    def apply(self, buffer: np.ndarray, progress: float) -> None:
        if progress >= 1.0 or self._images[1] is None:
            self._overlay("full").apply(buffer)
            return
        self._overlay("card").apply(buffer)
        if progress > 0.0:
            factor, factor_c = self._factors(progress)
            self._overlay("ink").apply(buffer, factor, factor_c)

    def _factors(self, progress: float) -> tuple[np.ndarray, np.ndarray]:
        text = self._overlay("ink")
        kind = self._reveal.kind
        if kind == "wipe":
            soft = max(4.0, text.width * 0.25)
            edge = progress * (text.width + soft)
            cols = np.arange(text.width, dtype=np.float32)
            ramp = np.clip((edge - cols) / soft, 0.0, 1.0)
            factor = (ramp * 256).astype(np.uint16)[None, :]
            return factor, factor[:, ::2]
        if kind == "words" and self._reveal.word_map is not None and self._reveal.words:
            count = self._reveal.words
            starts = np.arange(count, dtype=np.float32) / count * 0.6
            table = np.ones(count + 1, dtype=np.float32)
            table[1:] = np.clip((progress - starts) / 0.4, 0.0, 1.0)
            lut = (table * 256).astype(np.uint16)
            assert self._reveal.word_map_c is not None
            return lut[self._reveal.word_map], lut[self._reveal.word_map_c]
        eased = 1.0 - (1.0 - progress) ** 2
        value = np.array([[int(eased * 256)]], dtype=np.uint16)
        return value, value


def build_caption_layer(
    caption: CaptionText,
    card_box: IntBox,
    style: str,
    reveal: str,
    colours: BrandColours,
    load: FontLoader,
    frame_size: tuple[int, int],
    fps: int,
) -> CaptionLayer:
    """The caption card for `card_box` (even-aligned, in frame pixels) with the text centred."""
    x0, y0, x1, y1 = card_box
    size = (x1 - x0, y1 - y0)
    unit = min(frame_size) / 100
    card = _draw_card(style, size, unit, colours)
    fill = _card_fill(style, colours)
    ink = readable_text_color(fill)
    font = load(caption.font_px)

    mask = Image.new("L", size, 0)
    words = Image.new("I", size, 0) if reveal == "words" else None
    draw = ImageDraw.Draw(mask)
    word_draw = ImageDraw.Draw(words) if words is not None else None
    pitch = line_pitch(font)
    top = (size[1] - caption.height) // 2
    if style == "underline":
        top -= round(unit * 0.9)
    count = 0
    space = text_width(font, " ")
    for row, line in enumerate(caption.lines):
        left = round(size[0] / 2 - text_width(font, line) / 2)
        y = top + row * pitch
        draw.text((left, y), line, font=font, fill=255)
        if word_draw is not None:
            x = left
            for word in line.split(" "):
                count += 1
                w = text_width(font, word)
                word_draw.rectangle((x - 2, y, x + w + 2, y + pitch), fill=count)
                x += w + space
    if style == "underline" and caption.lines:
        bar_h = max(2, round(unit * 0.9))
        bar_y = top + caption.height + round(unit * 1.2)
        half = caption.width // 2
        card_draw = ImageDraw.Draw(card)
        card_draw.rectangle(
            (size[0] // 2 - half, bar_y, size[0] // 2 + half, bar_y + bar_h), fill=colours.accent
        )

    ink_layer = Image.new("RGBA", size, (*ink, 0))
    ink_layer.putalpha(mask)
    state = _Reveal(kind=reveal, frames=max(1, round(REVEAL_S * fps)))
    if words is not None and caption.lines:
        # uint8 word numbers (captions are a few words; words past 255 share the last slot).
        word_map = np.minimum(np.asarray(words, dtype=np.int32), 255).astype(np.uint8)
        state.word_map = word_map
        state.word_map_c = np.ascontiguousarray(word_map[::2, ::2])
        state.words = min(count, 255)
    return CaptionLayer(card, ink_layer if caption.lines else None, (x0, y0), frame_size, state)
