"""What a storyboard frame costs to draw (bench/README.md, "Where a pipeline job's time
goes"): a text is measured and rendered once per font and process, and a still frame
does not draw the caption highlights only the video shows. None of it changes a pixel."""

from __future__ import annotations

import random
import uuid

import pytest
from PIL import Image, ImageDraw, ImageFont

from shared.creative import typography
from shared.creative.layers import caption_page, colours_for
from shared.creative.layout import SceneDesign, scene_layout
from shared.creative.palette import brand_palette
from shared.creative.typography import FACE_FILES, text_width


class CountingFont(ImageFont.FreeTypeFont):
    """A real FreeType font that counts its text layouts (`getbbox`)."""

    layouts = 0

    def getbbox(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.layouts += 1
        return super().getbbox(*args, **kwargs)


def _font(size: int, face: str = "bold") -> CountingFont:
    return CountingFont(str(FACE_FILES[face]), size)


def test_a_text_is_measured_once_per_font() -> None:
    # The first measurement of a text is a layout; the next ones, from any font object of
    # the same face and size, are remembered.
    text = f"Brightens skin {uuid.uuid4().hex}"
    font, twin = _font(40), _font(40)
    first = text_width(font, text)
    assert (text_width(font, text), text_width(twin, text)) == (first, first)
    assert (font.layouts, twin.layouts) == (1, 0)


def test_remembered_widths_are_those_of_their_own_font() -> None:
    # The same text at two sizes and in two faces: four widths, each as measured afresh.
    text = f"98% saw smoother skin {uuid.uuid4().hex[:4]}"
    fonts = [_font(30), _font(60), _font(30, "condensed"), _font(60, "condensed")]
    fresh = [typography._measure(font, text) for font in fonts]
    assert [text_width(font, text) for font in fonts] * 2 == fresh * 2
    assert len(set(fresh)) == 4


def test_the_remembered_widths_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # A process drawing for months keeps at most WIDTHS_KEPT widths.
    monkeypatch.setattr(typography, "WIDTHS_KEPT", 50)
    font = _font(20)
    for n in range(120):
        text_width(font, f"word {n}")
    assert 0 < len(typography._widths) <= 50


def test_a_still_frame_caption_page_skips_the_highlights_and_keeps_the_panel() -> None:
    # A 9:16 scene's caption page, as the video draws it and as a still frame does.
    design = SceneDesign(
        size=(270, 480),
        platform="tiktok",
        style="bold",
        beat="hook",
        headline="Brightens skin in 7 days",
        palette=tuple(brand_palette(["#ff3366", "#2b2d72"])),
    )
    layout = scene_layout(design)
    colours = colours_for(design.style, design.palette)
    words = ["Brightens", "skin", "in", "7", "days"]
    video = caption_page(words, layout, colours, None)
    still = caption_page(words, layout, colours, None, highlights=False)

    # The panel with its words is the same picture; only the video's has highlights.
    assert len(video.highlights) == len(words) and still.highlights == ()
    assert (still.base.x, still.base.y) == (video.base.x, video.base.y)
    assert still.base.image.tobytes() == video.base.image.tobytes()


class CountingRenders(typography.RememberedFont):
    """A remembered font that counts what FreeType actually renders."""

    renders = 0

    def getmask2(self, text, mode="", *args, **kwargs):  # type: ignore[no-untyped-def]
        before = len(typography._rendered.masks), typography._rendered.bytes
        result = super().getmask2(text, mode, *args, **kwargs)
        if (len(typography._rendered.masks), typography._rendered.bytes) != before:
            self.renders += 1
        return result


def _drawn(font: ImageFont.FreeTypeFont, text: str, ink: tuple[int, int, int]) -> bytes:
    image = Image.new("RGBA", (400, 60), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((3, 5), text, font=font, fill=(*ink, 255))
    return image.tobytes()


def test_a_text_is_rendered_once_per_face_and_size_in_any_colour() -> None:
    # The caption's word on the panel and highlighted: two inks, one rendering; the
    # pixels are those a plain FreeType font draws.
    text = f"Shop now {uuid.uuid4().hex[:6]}"
    path = str(FACE_FILES["bold"])
    font, twin = CountingRenders(path, 32), CountingRenders(path, 32)
    plain = ImageFont.FreeTypeFont(path, 32)
    white, gold = (255, 255, 255), (245, 183, 0)
    assert _drawn(font, text, white) == _drawn(plain, text, white)
    assert _drawn(twin, text, gold) == _drawn(plain, text, gold)
    assert _drawn(font, text, gold) != _drawn(font, text, white)
    assert (font.renders, twin.renders) == (1, 0)


def test_remembered_texts_are_those_of_their_own_size_and_face() -> None:
    text = f"Ready? {uuid.uuid4().hex[:4]}"
    fonts = [
        typography.RememberedFont(str(FACE_FILES[face]), size)
        for face in ("bold", "condensed")
        for size in (20, 28)
    ]
    drawn = [_drawn(font, text, (255, 255, 255)) for font in fonts]
    fresh = [_drawn(ImageFont.FreeTypeFont(f.path, f.size), text, (255, 255, 255)) for f in fonts]
    assert drawn == fresh and len(set(drawn)) == 4


def test_the_remembered_texts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # A process drawing for months keeps at most MASK_BYTES_KEPT of rendered text.
    kept = typography.RenderedTexts(bytes_kept=20_000)
    monkeypatch.setattr(typography, "_rendered", kept)
    font = typography.RememberedFont(str(FACE_FILES["bold"]), 24)
    for n in range(60):
        _drawn(font, f"word {n}", (255, 255, 255))
    assert 0 < len(kept.masks) < 60 and 0 < kept.bytes <= 20_000


def test_the_design_system_draws_with_remembered_fonts() -> None:
    assert isinstance(typography.load_font(33), typography.RememberedFont)
    assert isinstance(typography.load_font(33, "condensed"), typography.RememberedFont)


PHRASES = (
    "Meet Zeno17 steel water bottle that keeps drinks cold for 24 hours oat milk with "
    "30% less sugar Ready? Shop now. Dermatologist-tested fragrance-free formula "
    "Limited offer: 50% off WAVE AT YOUR TEAM Supercalifragilistic"
)


def _first_fitting_in_turn(
    words: list[str], width: int, min_px: int, max_px: int, face: str, max_lines: int
) -> tuple[int, list[list[str]]] | None:
    """The size search as it was: every size from the largest down until one fits."""
    for size in typography._sizes(max(min_px, max_px), min_px):
        font = typography.load_font(size, face)
        lines = typography._wrap(words, font, width, typography.MAX_WORDS_PER_LINE)
        if len(lines) <= max_lines and typography._fits(lines, font, width):
            return size, lines
    return None


def test_bisection_finds_the_size_trying_each_in_turn_finds() -> None:
    vocabulary = PHRASES.split()
    chooser = random.Random(7)
    for _ in range(400):
        words = [chooser.choice(vocabulary) for _ in range(chooser.randint(1, 12))]
        width = chooser.choice([40, 54, 120, 300, 870])
        max_px = chooser.randint(6, 160)
        min_px = chooser.randint(4, max_px)
        face = chooser.choice(["bold", "condensed"])
        max_lines = chooser.choice([1, 2, 3])
        sizes = typography._sizes(max_px, min_px)
        found = typography._largest_fitting(
            sizes, words, width, face, None, max_lines, typography.MAX_WORDS_PER_LINE
        )
        assert found == _first_fitting_in_turn(words, width, min_px, max_px, face, max_lines)


def test_a_long_headline_is_tried_at_a_few_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Twelve sizes between 149 px and 98 px; on a 720 px line the headline fits at 98 only.
    tried: list[int] = []
    wrap = typography._wrap

    def counting(words, font, width, max_words):  # type: ignore[no-untyped-def]
        tried.append(font.size)
        return wrap(words, font, width, max_words)

    monkeypatch.setattr(typography, "_wrap", counting)
    fitted = typography.fit_text("MEET ZENO55 NOISE CANCELLING", 720, 96, 149, "condensed")
    sizes = typography._sizes(149, 96)
    assert len(sizes) == 12 and fitted.font_px == sizes[-1] == 98
    assert len(tried) <= 5 and tried[0] == 149
