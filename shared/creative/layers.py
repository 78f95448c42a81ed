"""Text, button, logo and small-print layers: RGBA images with their places in the frame.

The storyboard frame pastes them onto the plate with Pillow; the video engine converts
each to an overlay once and blends it per frame (revealed word by word, or highlighted as
the words are spoken). Every text sits on a surface whose colour is known (a strip, a
bubble, a panel, a button, or the style's plain light field), and its ink is chosen against
that surface so the contrast is at least 4.5:1 (WCAG AA).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from shared.creative.layout import SceneDesign, SceneLayout, TextBlock
from shared.creative.palette import (
    BLACK,
    RGB,
    WHITE,
    contrast_ratio,
    mix,
    readable_text_color,
    relative_luminance,
)
from shared.creative.styles import style_spec
from shared.creative.typography import is_emphasised, load_font, text_width

MIN_CONTRAST = 4.5
# Small print is read at the smallest size on screen: its ink keeps AAA contrast (7:1)
# on its opaque panel, a little softer than the panel's full white or black so the
# legal line reads as small print rather than a second headline.
FINE_PRINT_CONTRAST = 7.0
# The spoken word's colour: coloured thin strokes lose contrast to the video's
# half-resolution chroma, so it keeps a wide margin over the 4.5:1 floor.
HIGHLIGHT_CONTRAST = 7.0
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Layer:
    image: Image.Image  # RGBA
    x: int
    y: int
    kind: str  # headline | caption | cta | logo
    text: str
    ink: RGB

    @property
    def box(self) -> Box:
        return (self.x, self.y, self.x + self.image.width, self.y + self.image.height)


@dataclass(frozen=True)
class Colours:
    field: RGB  # the plate's main colour
    shade: RGB
    accent: RGB
    surface: RGB  # what headline text sits on (strip, bubble, or the plain field)
    ink: RGB
    emphasis: RGB  # emphasised words' ink (on `emphasis_block` when that is set)
    emphasis_block: RGB | None
    button: RGB
    button_ink: RGB
    panel: RGB  # the caption panel
    panel_alpha: float
    panel_ink: RGB
    highlight: RGB  # the spoken word's colour, on the caption panel


def _readable_on(colour: RGB, surface: RGB, target: float = MIN_CONTRAST + 0.2) -> RGB:
    """`colour` darkened or lightened just enough to read on `surface` (>= `target`)."""
    towards = BLACK if relative_luminance(surface) > 0.18 else WHITE
    for step in range(21):
        candidate = mix(colour, towards, step / 20)
        if contrast_ratio(candidate, surface) >= target:
            return candidate
    return readable_text_color(surface)


@lru_cache(maxsize=256)
def colours_for(style: str, palette: tuple[RGB, ...]) -> Colours:
    """The style's colours from the brand palette (kept per process: every layer of every
    frame asks, and each answer is dozens of contrast ratios)."""
    primary = palette[0]
    darkest = min(palette, key=relative_luminance)
    lightest = max(palette, key=relative_luminance)
    accent = max(palette[1:] or palette, key=lambda c: (max(c) - min(c), -relative_luminance(c)))
    if style == "clean":
        field = mix(lightest, WHITE, 0.82)
        ink = _readable_on(mix(darkest, BLACK, 0.55), field)
        emphasis = _readable_on(primary, field)
        button = _readable_on(primary, WHITE) if relative_luminance(primary) > 0.5 else primary
        panel, panel_alpha = WHITE, 0.94
        panel_ink = _readable_on(mix(darkest, BLACK, 0.6), WHITE)
        highlight = _readable_on(primary, WHITE, HIGHLIGHT_CONTRAST)
        return Colours(
            field,
            mix(field, darkest, 0.12),
            accent,
            field,
            ink,
            emphasis,
            None,
            button,
            readable_text_color(button),
            panel,
            panel_alpha,
            panel_ink,
            highlight,
        )
    if style == "social":
        surface = WHITE
        emphasis = _readable_on(accent, surface)
        button = accent
        return Colours(
            primary,
            mix(primary, BLACK, 0.45),
            accent,
            surface,
            (18, 18, 22),
            emphasis,
            None,
            button,
            readable_text_color(button),
            (12, 12, 16),
            0.75,
            WHITE,
            (255, 214, 10),
        )
    strip = mix(darkest, BLACK, 0.62)
    block = accent if contrast_ratio(accent, strip) >= 1.6 else mix(accent, WHITE, 0.4)
    button = accent if contrast_ratio(accent, primary) >= 1.6 else mix(accent, WHITE, 0.5)
    return Colours(
        primary,
        mix(primary, BLACK, 0.35),
        accent,
        strip,
        WHITE,
        readable_text_color(block),
        block,
        button,
        readable_text_color(button),
        (14, 14, 18),
        0.8,
        WHITE,
        _readable_on(block, (14, 14, 18), HIGHLIGHT_CONTRAST),
    )


def _rounded(size: tuple[int, int], radius: int, colour: RGB, alpha: float = 1.0) -> Image.Image:
    """A rounded rectangle, drawn at 2x and reduced for smooth corners."""
    width, height = max(1, size[0]), max(1, size[1])
    layer = Image.new("RGBA", (width, height), (*colour, 255))
    layer.putalpha(_rounded_mask(width, height, radius, round(255 * alpha)))
    return layer


@lru_cache(maxsize=64)
def _rounded_mask(width: int, height: int, radius: int, opacity: int) -> Image.Image:
    # Kept per process (read only: `putalpha` copies it): panels, strips and buttons of
    # the same size recur across a job's scenes and frames.
    big = Image.new("L", (width * 2, height * 2), 0)
    ImageDraw.Draw(big).rounded_rectangle(
        (0, 0, width * 2 - 1, height * 2 - 1), radius=max(0, radius * 2), fill=opacity
    )
    return big.reduce(2)


@dataclass(frozen=True)
class WordLayer:
    layer: Layer
    line: int
    order: int  # reveal order within the headline


def headline_layers(
    design: SceneDesign, layout: SceneLayout, colours: Colours, block: TextBlock | None = None
) -> tuple[list[Layer], list[WordLayer]]:
    """The headline's line surfaces (strips/bubbles; none for plain text) and its words,
    each word a layer of its own so the video can reveal them one by one."""
    block = block or layout.headline
    if block is None:
        return [], []
    spec = style_spec(design.style)
    font = block.fitted.font
    unit = layout.unit
    surfaces: list[Layer] = []
    words: list[WordLayer] = []
    ascent, descent = font.getmetrics()
    space = text_width(font, " ")
    order = 0
    for row, (line, origin, panel) in enumerate(
        zip(block.fitted.lines, block.origins, block.line_boxes, strict=True)
    ):
        px0, py0, px1, py1 = panel
        if spec.headline_boxes != "plain":
            radius = round(unit * (1.0 if spec.headline_boxes == "strips" else 2.4))
            surfaces.append(
                Layer(
                    _rounded((px1 - px0, py1 - py0), radius, colours.surface),
                    px0,
                    py0,
                    "headline",
                    " ".join(line),
                    colours.ink,
                )
            )
        x = origin[0]
        for index, word in enumerate(line):
            emphasised = is_emphasised(line, index)
            ink = colours.emphasis if emphasised else colours.ink
            width = text_width(font, word)
            pad = round(unit * 0.6) if emphasised and colours.emphasis_block else 0
            image = Image.new("RGBA", (width + 2 * pad + 2, ascent + descent + 2 * pad), (0,) * 4)
            if pad:
                block_img = _rounded(image.size, round(unit * 0.6), colours.emphasis_block or ink)
                image.alpha_composite(block_img)
            ImageDraw.Draw(image).text((pad + 1, pad), word, font=font, fill=(*ink, 255))
            layer = Layer(image, x - pad - 1, origin[1] - pad, "headline", word, ink)
            words.append(WordLayer(layer, row, order))
            order += 1
            x += width + space
    return surfaces, words


def flatten(layers: list[Layer], kind: str, text: str, ink: RGB) -> Layer | None:
    """Several layers merged into one (the settled headline: one overlay per frame)."""
    if not layers:
        return None
    x0 = min(layer.x for layer in layers)
    y0 = min(layer.y for layer in layers)
    x1 = max(layer.box[2] for layer in layers)
    y1 = max(layer.box[3] for layer in layers)
    image = Image.new("RGBA", (x1 - x0, y1 - y0), (0, 0, 0, 0))
    for layer in layers:
        image.alpha_composite(layer.image, (layer.x - x0, layer.y - y0))
    return Layer(image, x0, y0, kind, text, ink)


@dataclass(frozen=True)
class CaptionPage:
    """One page of the spoken words: the panel with every word, and for each word the
    highlight drawn when it is spoken."""

    base: Layer
    highlights: tuple[Layer, ...]


def caption_page(
    words: list[str],
    layout: SceneLayout,
    colours: Colours,
    brand_font: str | None,
    highlights: bool = True,
) -> CaptionPage:
    """The page's panel with its words; with `highlights`, each word's highlight too (a
    still frame shows none, and drawing them costs as much as the panel's words)."""
    font = load_font(layout.caption_px, "bold", brand_font)
    x0, y0, x1, y1 = layout.captions
    unit = layout.unit
    pad_x, pad_y = round(unit * 3), round(unit * 1.6)
    space = text_width(font, " ")
    ascent, descent = font.getmetrics()
    row = ascent + descent
    pitch = round(row * 1.12)
    # Two balanced lines at most, inside the band.
    limit = x1 - x0 - 2 * pad_x
    lines: list[list[str]] = [[]]
    for word in words:
        candidate = " ".join([*lines[-1], word])
        if lines[-1] and text_width(font, candidate) > limit:
            lines.append([])
        lines[-1].append(word)
    widths = [text_width(font, " ".join(line)) for line in lines]
    panel_w = min(x1 - x0, max(widths) + 2 * pad_x)
    panel_h = min(y1 - y0, (len(lines) - 1) * pitch + row + 2 * pad_y)
    px = x0 + (x1 - x0 - panel_w) // 2
    py = y1 - panel_h  # pinned to the band's bottom: the page grows upwards
    base = _rounded((panel_w, panel_h), round(unit * 2.2), colours.panel, colours.panel_alpha)
    draw = ImageDraw.Draw(base)
    marks: list[Layer] = []
    bar = max(2, round(unit * 0.5))
    for index, line in enumerate(lines):
        x = (panel_w - widths[index]) // 2
        y = pad_y + index * pitch
        for word in line:
            width = text_width(font, word)
            draw.text((x, y), word, font=font, fill=(*colours.panel_ink, 255))
            if highlights:
                # The spoken word changes colour and is underlined: it reads on the same panel.
                mark = Image.new("RGBA", (width + 2, row + bar + 2), (0, 0, 0, 0))
                mark_draw = ImageDraw.Draw(mark)
                mark_draw.text((1, 0), word, font=font, fill=(*colours.highlight, 255))
                mark_draw.rectangle((1, row, width, row + bar - 1), fill=(*colours.highlight, 255))
                marks.append(Layer(mark, px + x - 1, py + y, "caption", word, colours.highlight))
            x += width + space
    text = " ".join(words)
    return CaptionPage(Layer(base, px, py, "caption", text, colours.panel_ink), tuple(marks))


def button_layer(design: SceneDesign, layout: SceneLayout, colours: Colours) -> Layer | None:
    block = layout.button_text
    if block is None or layout.button is None:
        return None
    x0, y0, x1, y1 = layout.button
    unit = layout.unit
    shadow_pad = round(unit * 1.6)
    width, height = x1 - x0, y1 - y0
    radius = height // 2 if len(block.fitted.lines) == 1 else round(unit * 4)
    image = Image.new("RGBA", (width + 2 * shadow_pad, height + 2 * shadow_pad), (0, 0, 0, 0))
    shadow = _rounded((width, height), radius, BLACK, 0.35)
    soft = Image.new("RGBA", image.size, (0, 0, 0, 0))
    soft.alpha_composite(shadow, (shadow_pad, shadow_pad + round(unit * 0.6)))
    image.alpha_composite(soft.filter(ImageFilter.GaussianBlur(unit * 0.8)))
    image.alpha_composite(_rounded((width, height), radius, colours.button), (shadow_pad,) * 2)
    draw = ImageDraw.Draw(image)
    font = block.fitted.font
    for line, origin in zip(block.fitted.lines, block.origins, strict=True):
        draw.text(
            (origin[0] - x0 + shadow_pad, origin[1] - y0 + shadow_pad),
            " ".join(line),
            font=font,
            fill=(*colours.button_ink, 255),
        )
    label = " ".join(" ".join(line) for line in block.fitted.lines)
    return Layer(image, x0 - shadow_pad, y0 - shadow_pad, "cta", label, colours.button_ink)


def logo_layer(logo_path: Path, layout: SceneLayout, colours: Colours) -> Layer | None:
    if layout.logo is None:
        return None
    with Image.open(logo_path) as opened:
        logo = ImageOps.exif_transpose(opened).convert("RGBA")
    bbox = logo.getchannel("A").getbbox()
    if bbox is None:
        return None
    logo = logo.crop(bbox)
    x0, y0, x1, y1 = layout.logo
    scale = min((x1 - x0) / logo.width, (y1 - y0) / logo.height)
    size = (max(1, round(logo.width * scale)), max(1, round(logo.height * scale)))
    logo = logo.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    # A plate behind the logo so any logo reads on any background.
    pad = round(layout.unit * 2)
    opaque = not has_alpha_holes(logo)
    plate_colour = WHITE if opaque or _ink_luminance(logo) < 0.45 else (24, 24, 28)
    plate = _rounded((size[0] + 2 * pad, size[1] + 2 * pad), round(layout.unit * 2), plate_colour)
    plate.alpha_composite(logo, (pad, pad))
    x = x0 + ((x1 - x0) - plate.width) // 2
    return Layer(plate, x, y0, "logo", "", plate_colour)


def has_alpha_holes(image: Image.Image) -> bool:
    """Whether an RGBA image has transparent pixels (a cut-out, not a rectangle)."""
    return bool(np.asarray(image.getchannel("A")).min() < 250)


def _ink_luminance(image: Image.Image) -> float:
    small = np.asarray(image.resize((32, max(1, 32 * image.height // max(1, image.width)))))
    visible = small[small[..., 3] > 128]
    if visible.size == 0:
        return 0.5
    r, g, b = (round(float(v)) for v in visible[:, :3].mean(axis=0))
    return relative_luminance((r, g, b))


def fine_print_colours(colours: Colours) -> tuple[RGB, RGB]:
    """(panel, ink) of the small print: the caption panel's colour, opaque, so the
    contrast is the same over any picture, and its ink eased towards the panel."""
    panel = colours.panel
    ink = _readable_on(mix(colours.panel_ink, panel, 0.2), panel, FINE_PRINT_CONTRAST)
    return panel, ink


def fine_print_layer(block: TextBlock, kind: str, unit: int, colours: Colours) -> Layer:
    """A small-print block (`layout.legal` or `layout.ai_label`) drawn on its panel."""
    panel, ink = fine_print_colours(colours)
    x0, y0, x1, y1 = block.box
    image = _rounded((x1 - x0, y1 - y0), round(unit * 1.2), panel)
    draw = ImageDraw.Draw(image)
    font = block.fitted.font
    for line, origin in zip(block.fitted.lines, block.origins, strict=True):
        draw.text((origin[0] - x0, origin[1] - y0), " ".join(line), font=font, fill=(*ink, 255))
    text = " ".join(" ".join(line) for line in block.fitted.lines)
    return Layer(image, x0, y0, kind, text, ink)


def fine_print_layers(layout: SceneLayout, colours: Colours) -> list[Layer]:
    """The scene's legal lines (kind "disclaimer") and AI label (kind "ai_label")."""
    layers = []
    if layout.legal is not None:
        layers.append(fine_print_layer(layout.legal, "disclaimer", layout.unit, colours))
    if layout.ai_label is not None:
        layers.append(fine_print_layer(layout.ai_label, "ai_label", layout.unit, colours))
    return layers
