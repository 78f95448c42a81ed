"""The design system (shared/creative): every style on every platform keeps its text in
the safe zone, large enough and readable; the storyboard frame is the scene's plate with
its layers and nothing else (no scene counter)."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from shared.creative.frame import JPEG_QUALITY, scene_layers, storyboard_frame
from shared.creative.layers import _rounded, caption_page, colours_for, headline_layers
from shared.creative.layout import SceneDesign, SceneLayout, scene_layout
from shared.creative.palette import RGB, brand_palette, contrast_ratio, mix
from shared.creative.plate import decode_product, draw_plate
from shared.creative.platforms import safe_zone
from shared.creative.typography import MAX_WORDS_PER_LINE, cap_height, is_emphasised

STYLES = ("bold", "clean", "social")
PLATFORMS = {
    "tiktok": (540, 960),
    "instagram_reel": (540, 960),
    "youtube_short": (540, 960),
    "instagram_feed": (540, 540),
    "youtube": (960, 540),
}
HEADLINES = {
    "hook": "Brightens skin in 7 days",
    "problem": "Dull, tired skin every single morning before work?",
    "benefit": "98% saw smoother skin in just 2 weeks",
    "cta": "Glow like never before",
}
PALETTES = (
    ("#ff3366", "#2b2d72", "#ffd23f"),
    ("#1d3557", "#2a9d8f", "#a8dadc"),
    ("#ffd23f", "#fff3b0", "#f4f1de"),  # all light
    (),  # the default palette
)
SERIF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf")
FRAME_SIZE = (270, 480)
Box = tuple[int, int, int, int]


def _product_png() -> bytes:
    image = Image.new("RGBA", (300, 400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((80, 40, 220, 380), 40, fill=(236, 230, 220, 255))
    draw.ellipse((110, 150, 190, 230), fill=(230, 90, 40, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


PRODUCT = _product_png()


def _design(
    style: str,
    platform: str,
    beat: str,
    product: bool,
    palette: tuple[str, ...] = PALETTES[0],
    size: tuple[int, int] | None = None,
    **changes: object,
) -> SceneDesign:
    design = SceneDesign(
        size=size or PLATFORMS[platform], platform=platform, style=style,  # type: ignore[arg-type]
        beat=beat, headline=HEADLINES[beat], has_product=product, has_logo=beat == "cta",
        call_to_action="Shop Glow Serum", palette=tuple(brand_palette(list(palette))),
        seed="job-design",
    )  # fmt: skip
    return replace(design, **changes)  # type: ignore[arg-type]


def _inside(box: Box | None, zone: Box) -> bool:
    if box is None:
        return True
    x0, y0, x1, y1 = box
    return zone[0] <= x0 < x1 <= zone[2] and zone[1] <= y0 < y1 <= zone[3]


def _boxes(layout: SceneLayout) -> dict[str, Box | None]:
    boxes: dict[str, Box | None] = {
        "product": layout.product,
        "captions": layout.captions,
        "logo": layout.logo,
        "button": layout.button,
    }
    for name, block in (("headline", layout.headline), ("button_text", layout.button_text)):
        if block is not None:
            boxes[name] = block.box
            for row, line in enumerate(block.line_boxes):
                boxes[f"{name}_line{row}"] = line
    return boxes


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _mean_colour(image: Image.Image, box: Box) -> RGB:
    pixels = np.asarray(image.convert("RGB").crop(box), dtype=np.float64).reshape(-1, 3)
    r, g, b = (round(v) for v in pixels.mean(axis=0))
    return (r, g, b)


CASES = [
    (style, platform, beat, product)
    for style in STYLES
    for platform in PLATFORMS
    for beat in HEADLINES
    for product in (False, True)
]


# ------------------------------------------------------------------------------ layout


@pytest.mark.parametrize(("style", "platform", "beat", "product"), CASES)
def test_layout_keeps_to_the_safe_zone_and_type_rules(
    style: str, platform: str, beat: str, product: bool
) -> None:
    design = _design(style, platform, beat, product)
    layout = scene_layout(design)
    zone = safe_zone(platform, design.size)
    assert layout.safe == zone
    # Every box of text, the logo and the button is inside the platform's safe zone; the
    # product (a picture) may reach behind the captions where the zone is tight, never
    # off the frame.
    for name, box in _boxes(layout).items():
        if name == "product":
            assert _inside(box, (0, 0, *design.size)), (name, box)
        else:
            assert _inside(box, zone), (name, box, zone)
    if beat == "cta":
        assert layout.button is not None and layout.logo is not None
    texts = [b for b in (layout.headline, layout.button_text) if b is not None]
    assert texts
    width, height = design.size
    for block in texts:
        fitted = block.fitted
        # Capitals at least 3.5% of the frame height on 9:16 (3% on other frames).
        cap = cap_height(fitted.font_px, fitted.face, fitted.brand)
        assert cap >= height * (0.035 if height > width else 0.03) - 1e-6, (cap, fitted)
        # Short lines: never more than 7 words.
        assert all(len(line) <= MAX_WORDS_PER_LINE for line in fitted.lines), fitted.lines
        assert all(w <= block.box[2] - block.box[0] for w in fitted.widths)
    # Every word of the headline is shown (nothing cut).
    if layout.headline is not None:
        shown = [w for line in layout.headline.fitted.lines for w in line]
        assert " ".join(shown).lower() == HEADLINES[beat].lower()


@pytest.mark.parametrize(("style", "platform", "beat", "product"), CASES)
def test_numbers_and_their_units_are_emphasised(
    style: str, platform: str, beat: str, product: bool
) -> None:
    design = _design(style, platform, beat, product)
    layout = scene_layout(design)
    colours = colours_for(style, design.palette)
    _, words = headline_layers(design, layout, colours)
    if layout.headline is None:
        assert not words
        return
    assert len(words) == len(HEADLINES[beat].split())
    lines = layout.headline.fitted.lines
    for word in words:
        token = word.layer.text.strip(".,?").lower()
        line = [w.strip(".,?").lower() for w in lines[word.line]]
        after_number = line.index(token) > 0 and line[line.index(token) - 1] in ("7", "2")
        if token in ("7", "98%", "2", "never") or (token in ("days", "weeks") and after_number):
            assert word.layer.ink == colours.emphasis, token
        elif token in ("skin", "glow", "saw", "tired", "brightens"):
            assert word.layer.ink == colours.ink, token


def test_a_number_and_its_unit_stay_on_one_line() -> None:
    design = _design("bold", "tiktok", "benefit", False)
    layout = scene_layout(design)
    assert layout.headline is not None
    for line in layout.headline.fitted.lines:
        assert line[-1] != "2", layout.headline.fitted.lines


def test_is_emphasised_finds_numbers_percentages_and_units() -> None:
    words = ["Save", "30%", "now", "in", "7", "days", "with", "2x", "power", "and", "24/7"]
    emphasised = [w for i, w in enumerate(words) if is_emphasised(words, i)]
    assert emphasised == ["Save", "30%", "7", "days", "2x", "24/7"]
    assert is_emphasised(["$19.99"], 0) and is_emphasised(["+40%"], 0)
    assert not is_emphasised(["days"], 0)  # a unit only after a number
    assert not is_emphasised(["skin"], 0)


# ------------------------------------------------------------------------------ contrast


def _surfaces(design: SceneDesign) -> list[tuple[str, RGB, RGB]]:
    """(what, ink, surface) for every text the scene draws; plain text against the mean
    of the drawn plate under its box, translucent panels blended over the plate."""
    layout = scene_layout(design)
    colours = colours_for(design.style, design.palette)
    plate = draw_plate(design, layout, decode_product(PRODUCT) if design.has_product else None)
    checks: list[tuple[str, RGB, RGB]] = []
    _, words = headline_layers(design, layout, colours)
    block = layout.headline
    boxes = design.style != "clean"
    for word in words:
        layer = word.layer
        emphasised = layer.ink == colours.emphasis and layer.ink != colours.ink
        if emphasised and colours.emphasis_block is not None:
            surface = colours.emphasis_block
        elif boxes:
            surface = colours.surface
        else:
            assert block is not None
            line = block.line_boxes[word.line]
            surface = _mean_colour(plate, line)
        checks.append((f"headline {layer.text!r}", layer.ink, surface))
    page = caption_page(["Brightens", "skin", "in", "7", "days"], layout, colours, None)
    under = _mean_colour(plate, page.base.box)
    panel = mix(under, colours.panel, colours.panel_alpha)
    checks.append(("caption", colours.panel_ink, panel))
    # The spoken word changes colour on the same panel.
    checks.append(("caption highlight", colours.highlight, panel))
    if layout.button is not None:
        checks.append(("button", colours.button_ink, colours.button))
    return checks


@pytest.mark.parametrize("palette", PALETTES, ids=["vivid", "teal", "light", "default"])
@pytest.mark.parametrize(("style", "platform", "beat", "product"), CASES)
def test_text_contrast_is_at_least_4_5(
    style: str,
    platform: str,
    beat: str,
    product: bool,
    palette: tuple[str, ...],
) -> None:
    # Small frames: the plate's colours do not depend on its size.
    width, height = PLATFORMS[platform]
    design = _design(style, platform, beat, product, palette, (width // 4, height // 4))
    for what, ink, surface in _surfaces(design):
        assert contrast_ratio(ink, surface) >= 4.5, (what, ink, surface)


# ------------------------------------------------------------------------------ the frame


@pytest.mark.parametrize("beat", ["hook", "problem", "benefit", "cta"])
@pytest.mark.parametrize("style", STYLES)
def test_storyboard_frame_is_the_plate_and_its_layers_only(style: str, beat: str) -> None:
    design = _design(style, "tiktok", beat, True, size=FRAME_SIZE)
    jpeg = storyboard_frame(design, "Brightens skin in seven days.", PRODUCT)
    image = _decode(jpeg)
    # A JPEG of exactly the size, the same bytes every time.
    assert image.format == "JPEG" and image.size == FRAME_SIZE
    assert storyboard_frame(design, "Brightens skin in seven days.", PRODUCT) == jpeg
    # No scene counter or any other chrome: above the safe zone (whole JPEG blocks of it)
    # and left of it, the frame is the plate.
    layout = scene_layout(design)
    plate = np.asarray(draw_plate(design, layout, decode_product(PRODUCT)), dtype=np.int16)
    frame = np.asarray(image.convert("RGB"), dtype=np.int16)
    x0, y0, _, _ = safe_zone("tiktok", FRAME_SIZE)
    top = (y0 // 16) * 16
    left = (x0 // 16) * 16
    assert top >= 16 and left >= 0
    assert float(np.abs(frame[:top] - plate[:top]).mean()) < 3
    # Exactly the plate's own JPEG there (a chroma row of margin: decoding blends it with
    # the next block row's).
    out = io.BytesIO()
    draw_plate(design, layout, decode_product(PRODUCT)).save(out, "JPEG", quality=JPEG_QUALITY)
    plate_jpeg = np.asarray(_decode(out.getvalue()).convert("RGB"), dtype=np.int16)
    rows = slice(0, top - 8)
    assert float(np.abs(frame[rows] - plate_jpeg[rows]).max()) <= 2
    if left:
        region = slice(0, FRAME_SIZE[1] // 2), slice(0, left)
        assert float(np.abs(frame[region] - plate[region]).mean()) < 3
    # The layers are there: the headline (or the button) changes its box.
    layers = scene_layers(design)
    text_box = layout.headline.box if layout.headline is not None else layout.button
    assert text_box is not None and (layers.words or layers.end_card)
    bx0, by0, bx1, by1 = text_box
    assert float(np.abs(frame[by0:by1, bx0:bx1] - plate[by0:by1, bx0:bx1]).mean()) > 15


def test_storyboard_frames_differ_per_style() -> None:
    frames = {}
    for style in STYLES:
        design = _design(style, "tiktok", "hook", True, size=FRAME_SIZE)
        jpeg = storyboard_frame(design, "Brightens skin.", PRODUCT)
        frames[style] = np.asarray(_decode(jpeg).convert("RGB"), dtype=np.int16)
    for a in STYLES:
        for b in STYLES:
            if a < b:
                assert float(np.abs(frames[a] - frames[b]).mean()) > 20, (a, b)


def test_brand_font_changes_the_headline() -> None:
    assert SERIF.is_file()
    plain = _design("clean", "tiktok", "hook", False, size=FRAME_SIZE)
    branded = replace(plain, brand_font=str(SERIF))
    layout = scene_layout(branded)
    assert layout.headline is not None and layout.headline.fitted.brand == str(SERIF)
    a = np.asarray(_decode(storyboard_frame(plain, "")).convert("L"), dtype=np.int16)
    b = np.asarray(_decode(storyboard_frame(branded, "")).convert("L"), dtype=np.int16)
    x0, y0, x1, y1 = scene_layout(plain).headline.box  # type: ignore[union-attr]
    box = (
        slice(min(y0, layout.headline.box[1]), max(y1, layout.headline.box[3])),
        slice(min(x0, layout.headline.box[0]), max(x1, layout.headline.box[2])),
    )
    changed = np.abs(a[box] - b[box]) > 40
    assert changed.mean() > 0.03
    # Elsewhere (away from the headline) the frames are the same.
    assert float(np.abs(a[: box[0].start - 8] - b[: box[0].start - 8]).mean()) < 1


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize(("style", "platform", "beat", "product"), CASES)
def test_small_print_and_ai_label_are_in_the_safe_zone_clear_of_the_rest(
    style: str, platform: str, beat: str, product: bool
) -> None:
    legal = ("Results vary. Not medical advice.",)
    design = _design(style, platform, beat, product, disclaimers=legal, ai_label=True)
    layout = scene_layout(design)
    zone = safe_zone(platform, design.size)
    assert layout.legal is not None and layout.ai_label is not None
    # A legal line and the label never crowd out a headline that fits without them (the
    # end card's extra headline has no room on Reels either way).
    assert layout.fits or not scene_layout(replace(design, disclaimers=(), ai_label=False)).fits
    small = {"legal": layout.legal.box, "ai_label": layout.ai_label.box}
    others = {k: v for k, v in _boxes(layout).items() if v is not None}
    for name, box in small.items():
        # Inside the safe zone, over no headline line, button, logo, product or captions.
        assert _inside(box, zone), (name, box, zone)
        for other, other_box in others.items():
            assert not _overlap(box, other_box), (name, box, other, other_box)
    assert not _overlap(small["legal"], small["ai_label"])
    # The label is in the safe zone's top-left corner.
    assert small["ai_label"][:2] == zone[:2]
    # The text everywhere else still keeps to the safe zone; the headline keeps its
    # minimum size and every word.
    for name, box in others.items():
        assert name == "product" or _inside(box, zone), (name, box)
    width, height = design.size
    if layout.headline is not None:
        fitted = layout.headline.fitted
        cap = cap_height(fitted.font_px, fitted.face, fitted.brand)
        assert cap >= height * (0.035 if height > width else 0.03) - 1e-6
        shown = [w for line in fitted.lines for w in line]
        assert " ".join(shown).lower() == HEADLINES[beat].lower()
    # Every word of the legal line is set, at the small-print floor: capitals 1.6% of the
    # height on 9:16, 2.4% on other frames; the label reads "AI-generated".
    assert [w for line in layout.legal.fitted.lines for w in line] == legal[0].split()
    assert [" ".join(line) for line in layout.ai_label.fitted.lines] == ["AI-generated"]
    for block in (layout.legal, layout.ai_label):
        fitted = block.fitted
        cap = cap_height(fitted.font_px, fitted.face, fitted.brand)
        assert cap >= height * (0.016 if height > width else 0.024) - 1e-6, (cap, fitted)
        assert all(w <= block.box[2] - block.box[0] for w in fitted.widths)
    # Drawn on an opaque panel of the style's caption colour, readable at 4.5:1 or better
    # whatever is behind it.
    layers = {layer.kind: layer for layer in scene_layers(design).fine_print}
    assert set(layers) == {"disclaimer", "ai_label"}
    colours = colours_for(style, design.palette)
    for layer in layers.values():
        # The panel's top edge, between the rounded corners and above the text.
        r, g, b, a = layer.image.getpixel((layer.image.width // 2, 1))  # type: ignore[misc]
        assert a == 255 and contrast_ratio((r, g, b), colours.panel) < 1.05
        assert contrast_ratio(layer.ink, colours.panel) >= 4.5

    # Longer small print on the tightest frames: where the headline has no room left even
    # at its minimum size, the layout says so (for preflight) instead of hiding it.
    long = _design(style, platform, beat, product, ai_label=True,
                   disclaimers=(*legal, "Terms apply. See glow.example/terms."))  # fmt: skip
    crowded = scene_layout(long)
    assert crowded.legal is not None and _inside(crowded.legal.box, zone)
    if crowded.headline is not None and crowded.fits:
        assert not _overlap(crowded.legal.box, crowded.headline.box)
    if crowded.headline is not None and _overlap(crowded.legal.box, crowded.headline.box):
        assert not crowded.fits


def test_panels_of_one_size_keep_their_own_colours() -> None:
    # The rounded mask is kept per size and shared: two panels of the same size but
    # different colours and opacity must each come out as drawn, neither touching the other.
    first = _rounded((40, 20), 6, (255, 0, 0))
    second = _rounded((40, 20), 6, (0, 0, 255), alpha=0.5)
    third = _rounded((40, 20), 6, (255, 0, 0))
    assert first.getpixel((20, 10)) == (255, 0, 0, 255)
    assert second.getpixel((20, 10)) == (0, 0, 255, 128)
    assert first.getpixel((0, 0))[3] < 128  # a rounded corner
    assert first.tobytes() == third.tobytes()
    first.putpixel((20, 10), (0, 255, 0, 255))
    assert _rounded((40, 20), 6, (255, 0, 0)).getpixel((20, 10)) == (255, 0, 0, 255)
