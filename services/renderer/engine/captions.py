"""The caption layer: the spoken words, a page at a time in the caption band, the word
being spoken highlighted (timed to the voice-over, or at reading speed without one).

The pages are the caption files' cues (`subtitles.caption_pages`), so what the video shows
and what the .vtt/.srt say are the same words at the same times. Pages are drawn by the
design system (`shared.creative.layers.caption_page`) and converted to overlays on first
use: a clip only pays for the pages shown during it.
"""

from __future__ import annotations

import bisect
from dataclasses import replace

import numpy as np

from services.renderer.engine.overlay import Overlay
from services.renderer.engine.spec import RenderSpec
from services.renderer.engine.subtitles import Cue, caption_pages
from services.renderer.engine.timeline import Timeline, build_timeline
from shared.creative.layers import CaptionPage, caption_page, colours_for
from shared.creative.layout import CAPTION_MAX_WORDS, scene_layout

MAX_CHARS = 32


def pages_of(spec: RenderSpec) -> list[Cue]:
    """The caption pages, none running past the end of the video."""
    total = build_timeline(spec).total_frames / spec.fps
    pages = caption_pages(
        [w for w in spec.words if w.start_s < total], CAPTION_MAX_WORDS, MAX_CHARS
    )
    return [
        replace(cue, end_s=min(cue.end_s, total)) for cue in pages if cue.start_s < total - 0.05
    ]


class CaptionTrack:
    def __init__(self, spec: RenderSpec, timeline: Timeline) -> None:
        self.spec = spec
        self.cues = pages_of(spec)
        self.starts = [cue.start_s for cue in self.cues]
        self.layout = scene_layout(timeline.slots[0].design)
        self.colours = colours_for(spec.style, spec.palette)
        self.font = str(spec.font_path) if spec.font_path is not None else None
        self._drawn: dict[int, tuple[Overlay, list[Overlay], CaptionPage]] = {}

    def page_at(self, seconds: float) -> int | None:
        index = bisect.bisect_right(self.starts, seconds) - 1
        if index < 0 or seconds >= self.cues[index].end_s:
            return None
        return index

    def drawn(self, index: int) -> tuple[Overlay, list[Overlay], CaptionPage]:
        found = self._drawn.get(index)
        if found is None:
            words = [word.word for word in self.cues[index].words]
            page = caption_page(words, self.layout, self.colours, self.font)
            size = self.spec.size
            base = Overlay(page.base.image, page.base.x, page.base.y, size)
            marks = [Overlay(h.image, h.x, h.y, size) for h in page.highlights]
            found = self._drawn[index] = (base, marks, page)
        return found

    def apply(self, buffer: np.ndarray, seconds: float) -> None:
        index = self.page_at(seconds)
        if index is None:
            return
        base, marks, _ = self.drawn(index)
        base.apply(buffer)
        words = self.cues[index].words
        spoken = [i for i, word in enumerate(words) if word.start_s <= seconds]
        if spoken and spoken[-1] < len(marks):
            marks[spoken[-1]].apply(buffer)
