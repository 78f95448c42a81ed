"""What a storyboard frame costs to draw (bench/README.md, "Where a pipeline job's time
goes"): a text is measured once per font and process, and a still frame does not draw
the caption highlights only the video shows. Neither changes a pixel."""

from __future__ import annotations

import uuid

import pytest
from PIL import ImageFont

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
