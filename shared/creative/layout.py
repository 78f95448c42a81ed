"""Where everything goes in a scene: the headline, the product, the caption band, the logo
and the call to action, all inside the platform's safe zone.

Example::

    design = SceneDesign(size=(1080, 1920), platform="tiktok", style="bold", beat="hook",
                         headline="Brightens skin in 7 days", has_product=True)
    layout = scene_layout(design)
    layout.headline.box, layout.product, layout.captions      # pixel boxes
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.creative.platforms import safe_zone
from shared.creative.styles import style_spec
from shared.creative.typography import (
    FittedText,
    cap_height,
    fit_text,
    min_headline_cap,
    size_for_cap,
)
from shared.models import Style

Box = tuple[int, int, int, int]
CAPTION_LINES = 2
CAPTION_MAX_WORDS = 6


@dataclass(frozen=True)
class SceneDesign:
    """What decides how one scene looks (plain values: it crosses process boundaries)."""

    size: tuple[int, int]
    platform: str
    style: Style
    beat: str
    headline: str
    has_product: bool = False
    has_logo: bool = False
    call_to_action: str = ""
    brand_font: str | None = None
    palette: tuple[tuple[int, int, int], ...] = ()
    seed: str = ""

    @property
    def end_card(self) -> bool:
        return self.beat == "cta"

    @property
    def portrait(self) -> bool:
        return self.size[1] > self.size[0]

    @property
    def wide(self) -> bool:
        return self.size[0] > self.size[1] * 1.2


@dataclass(frozen=True)
class TextBlock:
    """Fitted text and where its lines sit: `line_boxes` are the panels (strips, bubbles)
    or, for plain text, the ink extents; `box` holds them all."""

    fitted: FittedText
    origins: tuple[tuple[int, int], ...]  # top-left of each line's ink
    line_boxes: tuple[Box, ...]
    box: Box
    align: str


@dataclass(frozen=True)
class SceneLayout:
    size: tuple[int, int]
    safe: Box
    unit: int  # 1% of the frame's short side
    headline: TextBlock | None
    product: Box | None
    captions: Box  # the band where the spoken words are shown
    caption_px: int
    logo: Box | None = None
    button: Box | None = None
    button_text: TextBlock | None = None
    extra: dict[str, Box] = field(default_factory=dict)


def caption_size(
    size: tuple[int, int], face: str = "bold", brand: str | None = None, style: str = "bold"
) -> int:
    """Caption text: capitals 2.4% of the frame height on 9:16 (smaller than headlines,
    large enough for a phone held at arm's length); `social` is captions-forward: 3%."""
    width, height = size
    cap = height * (0.024 if height > width else 0.032)
    if style == "social":
        cap *= 1.25
    return size_for_cap(cap, face, brand)


def _place_lines(
    fitted: FittedText, box: Box, align: str, pad: tuple[int, int], top: int | None = None
) -> TextBlock:
    x0, y0, x1, _ = box
    pad_x, pad_y = pad
    font = fitted.font
    ascent, descent = font.getmetrics()
    row = ascent + descent + 2 * pad_y
    gap = max(0, fitted.pitch - (ascent + descent)) + pad_y // 2
    y = y0 if top is None else top
    origins, panels = [], []
    for width in fitted.widths:
        panel_w = width + 2 * pad_x
        px0 = x0 if align == "left" else x0 + ((x1 - x0) - panel_w) // 2
        panels.append((px0, y, px0 + panel_w, y + row))
        origins.append((px0 + pad_x, y + pad_y))
        y += row + gap
    outer = (
        min(p[0] for p in panels) if panels else x0,
        min(p[1] for p in panels) if panels else y0,
        max(p[2] for p in panels) if panels else x0,
        max(p[3] for p in panels) if panels else y0,
    )
    return TextBlock(fitted, tuple(origins), tuple(panels), outer, align)


def _headline_pad(design: SceneDesign, unit: int) -> tuple[int, int]:
    boxes = style_spec(design.style).headline_boxes
    if boxes == "plain":
        return (0, round(unit * 0.4))
    return (round(unit * 2.2), round(unit * 0.9))


def fit_headline(design: SceneDesign, width: int, scale: float = 1.0) -> FittedText:
    spec = style_spec(design.style)
    face = "condensed" if spec.condensed else "bold"
    text = design.headline.upper() if spec.upper else design.headline
    minimum = size_for_cap(min_headline_cap(design.size), face, design.brand_font)
    wanted = round(minimum * spec.headline_scale * scale)
    maximum = max(minimum, round(wanted * 1.35))
    return fit_text(text, width, max(minimum, wanted * 3 // 4), maximum, face, design.brand_font)


def scene_layout(design: SceneDesign) -> SceneLayout:
    width, height = design.size
    safe = safe_zone(design.platform, design.size)
    sx0, sy0, sx1, sy1 = safe
    unit = max(1, round(min(width, height) / 100))
    gap = round(unit * 2.5)
    caption_px = caption_size(design.size, "bold", design.brand_font, design.style)
    caption_h = round(caption_px * 1.25 * CAPTION_LINES + unit * 4.2)
    if design.wide:
        captions = (sx0 + (sx1 - sx0) // 8, sy1 - caption_h, sx1 - (sx1 - sx0) // 8, sy1)
    else:
        captions = (sx0, sy1 - caption_h, sx1, sy1)
    if design.end_card:
        return _end_card(design, safe, unit, captions, caption_px, gap)

    pad = _headline_pad(design, unit)
    if design.wide:
        # Landscape: the headline on the left, the product on the right.
        text_right = sx0 + round((sx1 - sx0) * (0.56 if design.has_product else 1.0))
        # A wide frame has room across: the headline sets larger than the 3% floor.
        fitted = fit_headline(design, text_right - sx0 - 2 * pad[0], 1.6)
        block = _place_lines(fitted, (sx0, sy0, text_right, sy1), "left", pad)
        free_h = captions[1] - gap - sy0
        shift = max(0, (free_h - (block.box[3] - block.box[1])) // 2)
        block = _place_lines(fitted, (sx0, sy0, text_right, sy1), "left", pad, sy0 + shift)
        product = (text_right + gap, sy0, sx1, captions[1] - gap) if design.has_product else None
        return SceneLayout(design.size, safe, unit, block, product, captions, caption_px)

    align = "left" if design.style == "bold" else "center"
    fitted = fit_headline(design, sx1 - sx0 - 2 * pad[0], 0.85 if design.has_product else 1.1)
    top = sy0 + gap
    block = _place_lines(fitted, (sx0, top, sx1, sy1), align, pad)
    product = None
    if design.has_product:
        # The product is a picture, not text: where the safe zone leaves it too little
        # room (Reels), it may reach behind the caption band.
        top = block.box[3] + gap
        bottom = min(round(height * 0.9), max(captions[1] - gap, top + round(height * 0.3)))
        product = (sx0, top, sx1, bottom)
    else:
        # Without a product the headline sits in the optical centre of the free space.
        free = captions[1] - gap - top
        shift = max(0, round((free - (block.box[3] - block.box[1])) * 0.4))
        block = _place_lines(fitted, (sx0, top, sx1, sy1), align, pad, top + shift)
    return SceneLayout(design.size, safe, unit, block, product, captions, caption_px)


def _end_card(
    design: SceneDesign, safe: Box, unit: int, captions: Box, caption_px: int, gap: int
) -> SceneLayout:
    """Logo at the top, the product, the call to action on a big button above the
    captions; the scene's headline only when it says more than the button."""
    sx0, sy0, sx1, sy1 = safe
    width = sx1 - sx0
    y = sy0 + gap
    logo = None
    if design.has_logo:
        logo_h = round((captions[1] - sy0) * (0.13 if design.portrait else 0.16))
        logo_w = min(width, round(width * 0.6))
        logo = (sx0 + (width - logo_w) // 2, y, sx0 + (width + logo_w) // 2, y + logo_h)
        y = logo[3] + gap
    cap = min_headline_cap(design.size) * (1.05 if design.portrait else 0.95)
    pad = (round(unit * 5), round(unit * 2.4))
    label = design.call_to_action or design.headline or "Shop now"
    inner = round(width * 0.9) - 2 * pad[0]
    # One line reads fastest and leaves the product room: the regular face, else the
    # condensed one, before the label wraps onto a second line.
    fitted = None
    for face in ("bold", "condensed"):
        # On one line the button may set at the headline minimum (the floor, not 5% over).
        minimum = size_for_cap(min_headline_cap(design.size), face, design.brand_font)
        candidate = fit_text(
            label, inner, minimum, round(minimum * 1.3), face, design.brand_font, max_lines=1
        )
        if len(candidate.lines) == 1:
            fitted = candidate
            break
    if fitted is None:
        minimum = size_for_cap(cap, "bold", design.brand_font)
        fitted = fit_text(
            label, inner, minimum, round(minimum * 1.3), "bold", design.brand_font, max_lines=2
        )
    button_h = fitted.height + 2 * pad[1] + (len(fitted.lines) - 1) * pad[1]
    bottom = captions[1] - gap * 2
    block = _place_lines(fitted, (sx0, bottom - button_h, sx1, bottom), "center", pad)
    button = block.box
    product = (sx0, y, sx1, button[1] - gap) if design.has_product else None
    headline = None
    if design.headline.strip().lower() != label.strip().lower() and design.headline.strip():
        # The headline goes above the button, the product shares what is left.
        head_pad = _headline_pad(design, unit)
        fitted_head = fit_headline(design, width - 2 * head_pad[0], 0.8)
        head_h = len(fitted_head.lines) * (fitted_head.pitch + head_pad[1] * 2)
        head_top = max(y, button[1] - gap - head_h)
        headline = _place_lines(fitted_head, (sx0, head_top, sx1, sy1), "center", head_pad)
        if product is not None:
            product = (sx0, y, sx1, headline.box[1] - gap)
    if product is not None and product[3] - product[1] < unit * 8:
        product = None
    return SceneLayout(
        design.size,
        safe,
        unit,
        headline,
        product,
        captions,
        caption_px,
        logo=logo,
        button=button,
        button_text=block,
    )


def cap_of(block: TextBlock) -> float:
    return cap_height(block.fitted.font_px, block.fitted.face, block.fitted.brand)
