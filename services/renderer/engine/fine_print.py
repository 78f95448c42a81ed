"""The small print over the video: each scene's legal lines, and the "AI-generated" label
on every frame when the ad shows one.

Both are laid over the finished frame, after the transitions and with the captions, so
they stay still while pictures push, wipe or dissolve beneath them: a scene's legal lines
are shown on every frame it owns (its time on screen is what the planner timed for
reading), the label on every frame of the video. Their places come from the design system
(`shared.creative.layout.fine_print`), the same the storyboard frames show; each is
converted to an overlay once.
"""

from __future__ import annotations

import bisect

import numpy as np

from services.renderer.engine.overlay import Overlay
from services.renderer.engine.spec import RenderSpec
from services.renderer.engine.timeline import Slot, Timeline
from shared.creative.layers import Colours, Layer, colours_for, fine_print_layer
from shared.creative.layout import fine_print


def legal_layer(slot: Slot, colours: Colours) -> Layer | None:
    """The scene's legal lines as a layer (None when it carries none)."""
    small = fine_print(slot.design)
    if small.legal is None:
        return None
    return fine_print_layer(small.legal, "disclaimer", small.unit, colours)


def ai_label_layer(slot: Slot, colours: Colours) -> Layer | None:
    """The AI label as a layer (None when the ad shows none)."""
    small = fine_print(slot.design)
    if small.ai_label is None:
        return None
    return fine_print_layer(small.ai_label, "ai_label", small.unit, colours)


class FinePrintTrack:
    def __init__(self, spec: RenderSpec, timeline: Timeline) -> None:
        self.size = spec.size
        self.slots = timeline.slots
        self.starts = [slot.start for slot in timeline.slots]
        self.colours = colours_for(spec.style, spec.palette)
        self.label: Overlay | None = None
        if spec.ai_label and (layer := ai_label_layer(self.slots[0], self.colours)):
            self.label = Overlay(layer.image, layer.x, layer.y, self.size)
        # Scenes with the same lines share one overlay (and so never flicker at a cut).
        self._legal: dict[tuple[str, ...], Overlay | None] = {}

    def legal_at(self, frame: int) -> Overlay | None:
        """The legal lines of the scene that owns `frame`, as an overlay."""
        slot = self.slots[max(0, bisect.bisect_right(self.starts, frame) - 1)]
        lines = slot.design.disclaimers
        if not lines:
            return None
        if lines not in self._legal:
            layer = legal_layer(slot, self.colours)
            overlay = Overlay(layer.image, layer.x, layer.y, self.size) if layer else None
            self._legal[lines] = overlay
        return self._legal[lines]

    def apply(self, buffer: np.ndarray, frame: int) -> None:
        if (legal := self.legal_at(frame)) is not None:
            legal.apply(buffer)
        if self.label is not None:
            self.label.apply(buffer)
