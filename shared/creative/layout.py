"""Where everything goes in a scene: the headline, the product, the caption band, the logo
and the call to action, the brand's small print and the "AI-generated" label, all inside
the platform's safe zone.

The small print (legal lines) sits just above the caption band and the label in the safe
zone's top-left corner; the headline, product, logo and button share what is left, so no
text covers another or the product.

Example::

    design = SceneDesign(size=(1080, 1920), platform="tiktok", style="bold", beat="hook",
                         headline="Brightens skin in 7 days", has_product=True)
    layout = scene_layout(design)
    layout.headline.box, layout.product, layout.captions      # pixel boxes
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from shared.creative.disclaimers import AI_LABEL_TEXT
from shared.creative.platforms import safe_zone
from shared.creative.styles import style_spec
from shared.creative.typography import (
    FittedText,
    cap_height,
    fit_text,
    line_height,
    load_font,
    min_headline_cap,
    size_for_cap,
    text_width,
)
from shared.models import Style

Box = tuple[int, int, int, int]
CAPTION_LINES = 2
CAPTION_MAX_WORDS = 6
# Small print (legal lines, the AI label): capitals at least 1.6% of the frame height on
# 9:16 and 2.4% on square and wide frames. BCAP's legibility rule for TV supers asks for
# 26 of 1080 lines (2.4%) on an opaque block; a 9:16 video fills a phone's height held
# at reading distance, where 1.6% subtends the same angle as 2.4% of a TV at 3 m.
LEGAL_CAP_SHARE = {"portrait": 0.016, "other": 0.024}
LEGAL_FACE = "condensed"  # bold strokes survive the half-resolution chroma; narrow fits more
LEGAL_LEADING = 1.12


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
    disclaimers: tuple[str, ...] = ()  # legal lines shown on this scene (small print)
    ai_label: bool = False  # the visible "AI-generated" label

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
    # Small print: `box` is the opaque panel the lines sit on, `line_boxes` their ink rows.
    legal: TextBlock | None = None
    ai_label: TextBlock | None = None
    # False when the headline has no room even at its minimum size: it runs into the small
    # print (drawn over it) or, on the end card, is left out. Preflight reports it.
    fits: bool = True


@dataclass(frozen=True)
class FinePrint:
    """The small print of a scene: its legal lines and the AI label, where they go."""

    legal: TextBlock | None
    ai_label: TextBlock | None
    unit: int  # 1% of the frame's short side


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


def _headline_minimum(design: SceneDesign) -> int:
    face = "condensed" if style_spec(design.style).condensed else "bold"
    return size_for_cap(min_headline_cap(design.size), face, design.brand_font)


def fit_headline(design: SceneDesign, width: int, scale: float = 1.0) -> FittedText:
    spec = style_spec(design.style)
    face = "condensed" if spec.condensed else "bold"
    text = design.headline.upper() if spec.upper else design.headline
    minimum = _headline_minimum(design)
    wanted = round(minimum * spec.headline_scale * scale)
    maximum = max(minimum, round(wanted * 1.35))
    return fit_text(text, width, max(minimum, wanted * 3 // 4), maximum, face, design.brand_font)


def _block_height(fitted: FittedText, pad: tuple[int, int]) -> int:
    box = _place_lines(fitted, (0, 0, fitted.width + 2 * pad[0], 0), "left", pad).box
    return box[3] - box[1]


def fit_headline_within(
    design: SceneDesign, width: int, scale: float, pad: tuple[int, int], room: int
) -> FittedText:
    """The headline at `scale`, set smaller (never under the minimum) until its block is
    at most `room` tall: where the safe zone is short (Reels, small print, the label), the
    headline gives up size before it covers what is below it."""
    fitted = fit_headline(design, width, scale)
    minimum = _headline_minimum(design)
    while _block_height(fitted, pad) > room and fitted.font_px > minimum:
        scale *= 0.9
        fitted = fit_headline(design, width, scale)
    return fitted


def legal_px(size: tuple[int, int], brand: str | None = None) -> int:
    """The small print's pixel size: the smallest whose capitals meet LEGAL_CAP_SHARE."""
    width, height = size
    share = LEGAL_CAP_SHARE["portrait" if height > width else "other"]
    return size_for_cap(height * share, LEGAL_FACE, brand)


def _wrap_small_print(
    paragraphs: tuple[str, ...], font_px: int, brand: str | None, width: int
) -> list[list[str]]:
    """Each legal line as its own paragraph, filled to `width` at the one small-print
    size (never smaller: a word wider than the line, such as a long address, gets a line
    of its own and the panel grows to hold it)."""
    font = load_font(font_px, LEGAL_FACE, brand)
    lines: list[list[str]] = []
    for paragraph in paragraphs:
        row: list[str] = []
        for word in paragraph.split():
            if row and text_width(font, " ".join([*row, word])) > width:
                lines.append(row)
                row = []
            row.append(word)
        if row:
            lines.append(row)
    return lines


def _balanced_small_print(
    paragraphs: tuple[str, ...], font_px: int, brand: str | None, width: int
) -> list[list[str]]:
    """The fewest lines, as even as they can be: the narrowest measure that still takes
    no more lines than filling the full width does."""
    lines = _wrap_small_print(paragraphs, font_px, brand, width)
    low, high = width // 3, width
    while low < high:
        middle = (low + high) // 2
        if len(_wrap_small_print(paragraphs, font_px, brand, middle)) <= len(lines):
            high = middle
        else:
            low = middle + 1
    return _wrap_small_print(paragraphs, font_px, brand, high)


def _small_print_block(
    paragraphs: tuple[str, ...], design: SceneDesign, area: Box, unit: int, anchor: str
) -> TextBlock:
    """Small print on a panel inside `area`: centred at its bottom (`anchor` "bottom"),
    or at its top-left corner ("corner")."""
    ax0, ay0, ax1, ay1 = area
    font_px = legal_px(design.size, design.brand_font)
    font = load_font(font_px, LEGAL_FACE, design.brand_font)
    pad = (round(unit * 1.6), round(unit * 0.8))
    lines = _balanced_small_print(paragraphs, font_px, design.brand_font, ax1 - ax0 - 2 * pad[0])
    widths = tuple(text_width(font, " ".join(line)) for line in lines)
    pitch = round(line_height(font) * LEGAL_LEADING)
    fitted = FittedText(
        font_px, LEGAL_FACE, design.brand_font, tuple(tuple(line) for line in lines), widths, pitch
    )
    panel_w = min(ax1 - ax0, fitted.width + 2 * pad[0])
    panel_h = fitted.height + 2 * pad[1]
    if anchor == "corner":
        panel = (ax0, ay0, ax0 + panel_w, ay0 + panel_h)
    else:
        px0 = ax0 + (ax1 - ax0 - panel_w) // 2
        panel = (px0, ay1 - panel_h, px0 + panel_w, ay1)
    origins, rows = [], []
    y = panel[1] + pad[1]
    for line_w in widths:
        x = panel[0] + (panel_w - line_w) // 2
        origins.append((x, y))
        rows.append((x, y, x + line_w, y + line_height(font)))
        y += pitch
    return TextBlock(fitted, tuple(origins), tuple(rows), panel, "center")


def fine_print(design: SceneDesign) -> FinePrint:
    """Where the scene's legal lines and the AI label go. Both depend only on the frame,
    platform, font and the lines themselves (not on the headline or the product), so
    scenes that carry the same lines show them in the same place."""
    safe = safe_zone(design.platform, design.size)
    unit = _unit(design.size)
    captions = _caption_band(design, safe, unit)
    label = None
    if design.ai_label:
        label = _small_print_block((AI_LABEL_TEXT,), design, safe, unit, "corner")
    legal = None
    lines = tuple(line for line in design.disclaimers if line.strip())
    if lines:
        area = (captions[0], safe[1], captions[2], captions[1] - unit)
        legal = _small_print_block(lines, design, area, unit, "bottom")
    return FinePrint(legal, label, unit)


def _unit(size: tuple[int, int]) -> int:
    return max(1, round(min(size) / 100))


def _caption_band(design: SceneDesign, safe: Box, unit: int) -> Box:
    sx0, _, sx1, sy1 = safe
    caption_px = caption_size(design.size, "bold", design.brand_font, design.style)
    caption_h = round(caption_px * 1.25 * CAPTION_LINES + unit * 4.2)
    if design.wide:
        return (sx0 + (sx1 - sx0) // 8, sy1 - caption_h, sx1 - (sx1 - sx0) // 8, sy1)
    return (sx0, sy1 - caption_h, sx1, sy1)


def scene_layout(design: SceneDesign) -> SceneLayout:
    height = design.size[1]
    safe = safe_zone(design.platform, design.size)
    sx0, _, sx1, sy1 = safe
    unit = _unit(design.size)
    gap = round(unit * 2.5)
    caption_px = caption_size(design.size, "bold", design.brand_font, design.style)
    captions = _caption_band(design, safe, unit)
    small = fine_print(design)
    # What the headline, product, logo and button share: from `top` (below the label,
    # which sits close above the headline like a tag) to `floor` (the small print, or the
    # caption band).
    label_bottom = small.ai_label.box[3] + unit if small.ai_label else None
    floor = small.legal.box[1] if small.legal else captions[1]
    top = label_bottom or safe[1] + gap
    if design.end_card:
        layout = _end_card(design, safe, unit, captions, caption_px, gap, top, floor)
        return replace(layout, legal=small.legal, ai_label=small.ai_label)

    pad = _headline_pad(design, unit)
    if design.wide:
        # Landscape: the headline on the left, the product on the right.
        text_right = sx0 + round((sx1 - sx0) * (0.56 if design.has_product else 1.0))
        # A wide frame has room across: the headline sets larger than the 3% floor.
        sy0 = label_bottom or safe[1]
        free_h = floor - gap - sy0
        fitted = fit_headline_within(design, text_right - sx0 - 2 * pad[0], 1.6, pad, free_h)
        block = _place_lines(fitted, (sx0, sy0, text_right, sy1), "left", pad)
        shift = max(0, (free_h - (block.box[3] - block.box[1])) // 2)
        block = _place_lines(fitted, (sx0, sy0, text_right, sy1), "left", pad, sy0 + shift)
        product = (text_right + gap, sy0, sx1, floor - gap) if design.has_product else None
        return SceneLayout(
            design.size,
            safe,
            unit,
            block,
            _usable(product, unit),
            captions,
            caption_px,
            legal=small.legal,
            ai_label=small.ai_label,
            fits=block.box[3] <= floor,
        )

    align = "left" if design.style == "bold" else "center"
    scale = 0.85 if design.has_product else 1.1
    fitted = fit_headline_within(design, sx1 - sx0 - 2 * pad[0], scale, pad, floor - gap - top)
    block = _place_lines(fitted, (sx0, top, sx1, sy1), align, pad)
    product = None
    if design.has_product:
        # The product is a picture, not text: where the safe zone leaves it too little
        # room (Reels), it may reach behind the caption band, never behind small print.
        top = block.box[3] + gap
        bottom = min(round(height * 0.9), max(floor - gap, top + round(height * 0.3)))
        if small.legal is not None:
            bottom = min(bottom, small.legal.box[1] - gap)
        product = _usable((sx0, top, sx1, bottom), unit)
    else:
        # Without a product the headline sits in the optical centre of the free space.
        free = floor - gap - top
        shift = max(0, round((free - (block.box[3] - block.box[1])) * 0.4))
        block = _place_lines(fitted, (sx0, top, sx1, sy1), align, pad, top + shift)
    return SceneLayout(
        design.size,
        safe,
        unit,
        block,
        product,
        captions,
        caption_px,
        legal=small.legal,
        ai_label=small.ai_label,
        fits=block.box[3] <= floor,
    )


def _usable(product: Box | None, unit: int) -> Box | None:
    """A product box with room to show it, else None (small print took the space)."""
    if product is None or product[3] - product[1] < unit * 8:
        return None
    return product


def _end_card(
    design: SceneDesign,
    safe: Box,
    unit: int,
    captions: Box,
    caption_px: int,
    gap: int,
    top: int,
    floor: int,
) -> SceneLayout:
    """Logo at the top, the product, the call to action on a big button above the
    captions (and the small print); the scene's headline only when it says more than the
    button. `top`..`floor`: the height they share."""
    sx0, _, sx1, sy1 = safe
    width = sx1 - sx0
    y = top
    logo = None
    if design.has_logo:
        logo_h = round((floor - safe[1]) * (0.13 if design.portrait else 0.16))
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
    bottom = floor - gap * 2
    block = _place_lines(fitted, (sx0, bottom - button_h, sx1, bottom), "center", pad)
    button = block.box
    product = (sx0, y, sx1, button[1] - gap) if design.has_product else None
    headline = None
    fits = True
    if design.headline.strip().lower() != label.strip().lower() and design.headline.strip():
        # The headline goes above the button, the product shares what is left; where even
        # the smallest headline would cover the button, the button speaks alone.
        head_pad = _headline_pad(design, unit)
        room = button[1] - gap - y
        fitted_head = fit_headline_within(design, width - 2 * head_pad[0], 0.8, head_pad, room)
        head_h = _block_height(fitted_head, head_pad)
        if head_h <= room:
            head_top = button[1] - gap - head_h
            headline = _place_lines(fitted_head, (sx0, head_top, sx1, sy1), "center", head_pad)
            if product is not None:
                product = (sx0, y, sx1, headline.box[1] - gap)
        fits = headline is not None
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
        fits=fits,
    )


def cap_of(block: TextBlock) -> float:
    return cap_height(block.fitted.font_px, block.fitted.face, block.fitted.brand)
