"""Storyboard frames of the local engine: format, determinism, brand colours, caption
fitting, product compositing, text contrast and input validation."""

from __future__ import annotations

import io
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from PIL import Image, ImageDraw

from shared.models import PLATFORM_SIZE, Platform
from shared.providers.local.frames import (
    draw_frame,
    fit_caption,
    text_block_height,
    text_width,
)
from shared.providers.local.palette import (
    DEFAULT_PALETTE,
    brand_palette,
    contrast_ratio,
    readable_text_color,
)

CAPTION = "Meet Brewly: fresh beans, ground at your door"
LONG_TEXT = (
    "Our new cold brew is steeped for twenty hours, bottled the same morning and delivered "
    "to your door before you wake up, so every single day starts with something great. "
) * 4


def frame(**overrides: Any) -> bytes:
    args: dict[str, Any] = {
        "size": (1080, 1920),
        "caption": CAPTION,
        "beat": "hook",
        "scene_index": 2,
        "scene_count": 5,
        "colors": ["#1e88e5"],
        "tone": None,
        "seed": "job-1",
    }
    args.update(overrides)
    return draw_frame(**args)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png(size: tuple[int, int], colour: tuple[int, int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, colour).save(out, "PNG")
    return out.getvalue()


def magenta_pixels(image: Image.Image) -> int:
    r, g, b = image.convert("RGB").split()
    # 255 where r > 200, g < 80 and b > 200, else 0; summed by the histogram's last bin.
    hot_r = r.point(lambda v: 255 if v > 200 else 0)
    low_g = g.point(lambda v: 255 if v < 80 else 0)
    hot_b = b.point(lambda v: 255 if v > 200 else 0)
    mask = Image.composite(hot_r, Image.new("L", image.size, 0), low_g)
    mask = Image.composite(mask, Image.new("L", image.size, 0), hot_b)
    return mask.histogram()[255]


def mean_rgb(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[float, float, float]:
    region = image.convert("RGB").crop(box)
    pixels = region.width * region.height
    sums = [sum(i * n for i, n in enumerate(band.histogram())) for band in region.split()]
    return (sums[0] / pixels, sums[1] / pixels, sums[2] / pixels)


def distance(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return math.dist(a, b)


@pytest.mark.parametrize(
    "size",
    [
        PLATFORM_SIZE[Platform.tiktok],
        PLATFORM_SIZE[Platform.instagram_feed],
        PLATFORM_SIZE[Platform.youtube],
        (54, 96),
    ],
)
@pytest.mark.parametrize("beat", ["hook", "cta"])
def test_frame_is_a_jpeg_of_the_requested_size(size: tuple[int, int], beat: str) -> None:
    # Draw with a product image so every layer is exercised at this size.
    data = frame(size=size, beat=beat, product_image=png((300, 200), (20, 160, 90, 255)))
    # The bytes decode as a JPEG of exactly the requested width and height.
    image = decode(data)
    assert image.format == "JPEG"
    assert image.size == size


def test_same_inputs_give_the_same_bytes_and_variants_differ() -> None:
    # Two draws of the same inputs are byte-identical.
    assert frame() == frame()
    # Also with a product image (the second draw reuses the decoded product).
    product = png((120, 90), (200, 40, 40, 255))
    assert frame(product_image=product) == frame(product_image=product)
    # Another layout variant, beat or job seed gives a different frame.
    base = frame()
    assert frame(layout_variant=1) != base
    assert frame(beat="benefit") != base
    assert frame(seed="job-2") != base


def test_concurrent_draws_match_sequential_ones() -> None:
    # The backend draws scenes in worker threads; results must not depend on that.
    beats = ["hook", "problem", "solution", "benefit", "cta"] * 2
    product = png((160, 120), (40, 40, 200, 255))

    def draw(beat: str) -> bytes:
        return frame(beat=beat, size=(270, 480), product_image=product)

    expected = [draw(beat) for beat in beats]
    # Draw the same frames on four threads at once.
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(draw, beats))
    assert got == expected


@pytest.mark.parametrize(
    ("brand", "contrasting"),
    [("#1e88e5", "#e5731e"), ("#c62828", "#28c6c6"), ("#2e7d32", "#7d2e79")],
)
def test_brand_colour_dominates_the_background(brand: str, contrasting: str) -> None:
    # A hook frame keeps its accents in the upper part, so the bottom strip is background.
    image = decode(frame(colors=[brand]))
    width, height = image.size
    average = mean_rgb(image, (0, round(height * 0.88), width, height))
    # The strip's average colour is nearer the brand colour than a contrasting one.
    (brand_rgb,) = brand_palette([brand])[:1]
    (other_rgb,) = brand_palette([contrasting])[:1]
    assert distance(average, brand_rgb) < distance(average, other_rgb)


def test_default_palette_is_used_without_brand_colours() -> None:
    # No brand colours: the palette is DEFAULT_PALETTE, parsed.
    palette = brand_palette([])
    assert len(DEFAULT_PALETTE) in (3, 4)
    assert palette == [brand_palette([c])[0] for c in DEFAULT_PALETTE]
    # A frame still draws.
    assert decode(frame(colors=[])).size == (1080, 1920)


def test_brand_palette_parses_and_fills_up_to_three_colours() -> None:
    # Short and long hex forms parse to the same RGB.
    assert brand_palette(["#abc"])[0] == (0xAA, 0xBB, 0xCC)
    assert brand_palette(["#aabbcc"])[0] == (0xAA, 0xBB, 0xCC)
    # One or two colours are topped up to three distinct shades, given ones first.
    one = brand_palette(["#336699"])
    assert len(one) == 3 and one[0] == (0x33, 0x66, 0x99) and len(set(one)) == 3
    two = brand_palette(["#ffffff", "#000000"])
    assert two[:2] == [(255, 255, 255), (0, 0, 0)] and len(set(two)) == 3
    # More colours are all kept, in order.
    assert len(brand_palette(["#111", "#222", "#333", "#444"])) == 4
    # Garbage is refused clearly.
    with pytest.raises(ValueError, match="hex colour"):
        brand_palette(["red"])


def assert_fits(text: str, box: tuple[int, int], max_px: int, min_px: int) -> list[str]:
    font, lines = fit_caption(text, box, max_px, min_px)
    ascent, descent = font.getmetrics()
    assert min_px <= int(font.size) <= max_px
    for line in lines:
        left, _, right, _ = font.getbbox(line)
        assert left >= -2 and right <= box[0], line
        assert text_width(font, line) <= box[0]
    assert len(lines) * (ascent + descent) <= box[1]
    assert text_block_height(font, len(lines)) <= box[1]
    return lines


def test_fit_caption_never_overflows() -> None:
    # Short text in a roomy box keeps the largest size on one line.
    font, lines = fit_caption("Shop now", (800, 200), 64, 12)
    assert int(font.size) == 64 and lines == ["Shop now"]
    # Long text shrinks and wraps but stays inside the box; nothing is lost if it fits.
    lines = assert_fits(LONG_TEXT[:160], (600, 400), 72, 10)
    assert " ".join(lines).split() == LONG_TEXT[:160].split()
    # Text too long even at the smallest size is cut with an ellipsis.
    lines = assert_fits(LONG_TEXT, (300, 90), 40, 14)
    assert lines and lines[-1].endswith("…")
    # A single 200-character word is broken across lines, all of it kept.
    word = "Supercalifragilistic" * 10
    lines = assert_fits(word, (300, 400), 48, 8)
    assert "".join(lines) == word
    # The same word in a box too small for it is truncated, still within bounds.
    lines = assert_fits(word, (120, 40), 30, 10)
    assert lines and lines[-1].endswith("…")
    # Degenerate boxes and empty text give no lines rather than overflowing.
    assert assert_fits(LONG_TEXT, (3, 3), 20, 10) == []
    assert fit_caption("   ", (300, 100), 40, 10)[1] == []


def test_fitted_lines_render_inside_the_box() -> None:
    # Render the fitted lines as the frame does, onto a canvas with a margin around the box.
    box, margin = (320, 160), 40
    font, lines = fit_caption(LONG_TEXT[:120], box, 60, 10)
    canvas = Image.new("L", (box[0] + 2 * margin, box[1] + 2 * margin), 0)
    draw = ImageDraw.Draw(canvas)
    pitch = (text_block_height(font, 2) - text_block_height(font, 1)) if len(lines) > 1 else 0
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * pitch), line, font=font, fill=255)
    # No ink lands outside the box.
    ink = canvas.getbbox()
    assert ink is not None
    assert ink[0] >= margin - 2 and ink[1] >= margin
    assert ink[2] <= margin + box[0] and ink[3] <= margin + box[1]


@pytest.mark.parametrize("size", [(1080, 1920), (1920, 1080), (108, 192)])
@pytest.mark.parametrize("colors", [["#1e88e5"], [], ["#ffffff"], ["#f59e0b", "#0f766e"]])
def test_product_image_is_composited(size: tuple[int, int], colors: list[str]) -> None:
    # Without a product image the frame has no magenta at all.
    plain = decode(frame(size=size, colors=colors, beat="solution"))
    assert magenta_pixels(plain) == 0
    # A solid magenta product covers a good part of the upper/middle area.
    product = png((400, 400), (255, 0, 255, 255))
    image = decode(frame(size=size, colors=colors, beat="solution", product_image=product))
    width, height = size
    assert magenta_pixels(image) > 0.04 * width * height
    # It sits above the caption area, centred horizontally.
    upper = image.crop((0, 0, width, round(height * 0.6)))
    assert magenta_pixels(upper) == magenta_pixels(image)
    left = magenta_pixels(image.crop((0, 0, width // 2, height)))
    assert abs(left - magenta_pixels(image) / 2) < 0.1 * magenta_pixels(image)


def test_transparent_and_photo_products_are_accepted() -> None:
    # A cut-out with transparent surroundings: only its opaque part shows.
    cutout = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    ImageDraw.Draw(cutout).ellipse((100, 100, 300, 300), fill=(255, 0, 255, 255))
    data = io.BytesIO()
    cutout.save(data, "PNG")
    with_cutout = decode(frame(product_image=data.getvalue()))
    assert magenta_pixels(with_cutout) > 0
    # A large JPEG photo in a palette mode-free RGB file works too.
    photo = io.BytesIO()
    Image.new("RGB", (3000, 2000), (255, 0, 255)).save(photo, "JPEG", quality=90)
    assert magenta_pixels(decode(frame(product_image=photo.getvalue()))) > 0


@pytest.mark.parametrize(
    "background",
    [
        (0, 0, 0),
        (255, 255, 255),
        (119, 119, 119),
        (128, 128, 128),
        (255, 0, 0),
        (0, 0, 255),
        (0, 200, 0),
        (30, 136, 229),
        (245, 158, 11),
        (242, 84, 91),
    ],
)
def test_readable_text_color_contrasts_enough(background: tuple[int, int, int]) -> None:
    # The chosen text colour is black or white and meets WCAG AA (4.5:1).
    colour = readable_text_color(background)
    assert colour in ((0, 0, 0), (255, 255, 255))
    assert contrast_ratio(colour, background) >= 4.5


def test_contrast_ratio_matches_wcag() -> None:
    # Black on white is 21:1, a colour against itself 1:1, and the ratio is symmetric.
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((30, 136, 229), (30, 136, 229)) == pytest.approx(1.0)
    assert contrast_ratio((255, 0, 0), (0, 0, 0)) == pytest.approx(
        contrast_ratio((0, 0, 0), (255, 0, 0))
    )
    # WCAG's worked value: #777 on white is about 4.48:1.
    assert contrast_ratio((0x77, 0x77, 0x77), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize(
    "data",
    [b"not an image at all", b"", png((50, 50), (255, 0, 255, 255))[:60]],
    ids=["garbage", "empty", "truncated-png"],
)
def test_invalid_product_image_raises_value_error(data: bytes) -> None:
    # Unreadable bytes are refused with a ValueError that names the product image.
    with pytest.raises(ValueError, match="product_image"):
        frame(product_image=data)


def test_invalid_size_raises_value_error() -> None:
    # A zero or absurd size is refused before any drawing.
    with pytest.raises(ValueError, match="frame size"):
        frame(size=(0, 100))
    with pytest.raises(ValueError, match="frame size"):
        frame(size=(100_000, 100))


def test_unknown_beat_and_odd_inputs_still_draw() -> None:
    # An unknown beat, an empty caption, a zero scene count and a tone all draw normally.
    image = decode(frame(beat="teaser", caption="", scene_count=0, tone="playful, bold"))
    assert image.size == (1080, 1920)
