"""What a render leaves beside its video: the captions (WebVTT and SRT), a contact sheet
(one frame per scene with its time) and `layout.json`, where the engine put every text
box, the logo and the product, scene by scene, for checks against the rendered pixels.

`layout.json`::

    {"size": [w, h], "fps": 30, "platform": "tiktok", "style": "bold",
     "safe_zone": [x0, y0, x1, y1],
     "scenes": [{"index": 1, "beat": "hook", "start_s": 0.0, "end_s": 3.0,
                 "headline": "...", "claim": "...", "disclaimers": ["..."]}],
     "boxes": [{"scene": 1, "kind": "headline" | "caption" | "cta" | "logo" | "product"
                        | "disclaimer" | "ai_label",
                "text": "...", "box": [x0, y0, x1, y1], "from_s": 0.5, "to_s": 2.9,
                "ink": [r, g, b]}]}

`from_s`..`to_s` is a window in which the box is fully shown and does not move. The
small print (`disclaimer`: a scene's legal lines, `ai_label`: "AI-generated") is text
like the others: its box is the opaque panel it is set on, and it is shown over the
whole scene.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.renderer.engine.captions import pages_of
from services.renderer.engine.contact_sheet import contact_sheet
from services.renderer.engine.encode import atomic_output
from services.renderer.engine.fine_print import ai_label_layer, legal_layer
from services.renderer.engine.scene import REVEAL_S
from services.renderer.engine.spec import RenderSpec
from services.renderer.engine.subtitles import to_srt, to_vtt
from services.renderer.engine.timeline import Slot, Timeline, build_timeline
from shared.creative.frame import scene_layers
from shared.creative.layers import Colours, caption_page, colours_for, headline_layers
from shared.creative.layout import SceneLayout, scene_layout
from shared.creative.palette import RGB
from shared.creative.platforms import safe_zone

_SETTLE_S = REVEAL_S + 0.15


def _window(timeline: Timeline, position: int) -> tuple[float, float]:
    slot = timeline.slots[position]
    fps = timeline.fps
    start = slot.start / fps + _SETTLE_S
    end = (slot.end - slot.fade_out) / fps - 0.05
    return round(start, 3), round(max(start, end), 3)


def layout_report(spec: RenderSpec) -> dict[str, Any]:
    timeline = build_timeline(spec)
    fps = spec.fps
    colours = colours_for(spec.style, spec.palette)
    scenes: list[dict[str, Any]] = []
    boxes: list[dict[str, Any]] = []
    for position, (slot, scene) in enumerate(zip(timeline.slots, spec.scenes, strict=True)):
        scenes.append(
            {
                "index": scene.index,
                "beat": scene.beat,
                "start_s": round(slot.start / fps, 3),
                "end_s": round(slot.end / fps, 3),
                "headline": scene.caption,
                "claim": scene.claim,
                "disclaimers": list(scene.disclaimers),
            }
        )
        start, end = _window(timeline, position)
        layers = scene_layers(slot.design, spec.logo_path if slot.end_card else None)
        layout = layers.layout
        block = layout.headline
        if block is not None:
            inks = _line_inks(slot, layout, colours)
            lines = zip(block.fitted.lines, block.line_boxes, strict=True)
            for row, (line, panel) in enumerate(lines):
                ink = inks.get(row, colours.ink)
                boxes.append(_box(scene.index, "headline", " ".join(line), panel, start, end, ink))
        for layer in layers.end_card:
            boxes.append(
                _box(scene.index, layer.kind, layer.text, layer.box, start, end, layer.ink)
            )
        if layout.product is not None:
            boxes.append(_box(scene.index, "product", "", layout.product, start, end, (0, 0, 0)))
        small = [legal_layer(slot, colours), ai_label_layer(slot, colours)]
        shown = (slot.start / fps + 0.05, slot.end / fps - 0.05)
        for layer in (layer for layer in small if layer is not None):
            boxes.append(_box(scene.index, layer.kind, layer.text, layer.box, *shown, layer.ink))
    band = scene_layout(timeline.slots[0].design)
    font = str(spec.font_path) if spec.font_path is not None else None
    for cue in pages_of(spec):
        page = caption_page([w.word for w in cue.words], band, colours, font)
        boxes.append(
            _box(
                cue.words[0].scene,
                "caption",
                cue.text,
                page.base.box,
                cue.start_s + 0.02,
                cue.end_s - 0.02,
                colours.panel_ink,
            )
        )
    return {
        "size": list(spec.size),
        "fps": fps,
        "platform": spec.platform,
        "style": spec.style,
        "safe_zone": list(safe_zone(spec.platform, spec.size)),
        "scenes": scenes,
        "boxes": boxes,
    }


def _line_inks(slot: Slot, layout: SceneLayout, colours: Colours) -> dict[int, RGB]:
    """The ink most of each headline line is set in: a line of emphasised words only (a
    number and its unit on accent blocks) is read in the emphasis ink, not the body's."""
    weight: dict[int, dict[RGB, int]] = {}
    for word in headline_layers(slot.design, layout, colours)[1]:
        inks = weight.setdefault(word.line, {})
        inks[word.layer.ink] = inks.get(word.layer.ink, 0) + len(word.layer.text)
    return {line: max(inks, key=lambda ink: inks[ink]) for line, inks in weight.items()}


def _box(
    scene: int,
    kind: str,
    text: str,
    box: tuple[int, int, int, int],
    start: float,
    end: float,
    ink: tuple[int, int, int],
) -> dict[str, Any]:
    return {
        "scene": scene,
        "kind": kind,
        "text": text,
        "box": [int(v) for v in box],
        "from_s": round(start, 3),
        "to_s": round(end, 3),
        "ink": list(ink),
    }


def scene_moments(spec: RenderSpec) -> list[tuple[int, float]]:
    """One settled moment per scene, for the contact sheet."""
    timeline = build_timeline(spec)
    moments = []
    for position, scene in enumerate(spec.scenes):
        start, end = _window(timeline, position)
        moments.append((scene.index, round(min(end, start + 0.4), 3)))
    return moments


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_report(spec: RenderSpec, video: Path, captions: Path, sheet: Path, layout: Path) -> None:
    cues = pages_of(spec)
    _write_text(captions, to_vtt(cues))
    _write_text(captions.with_suffix(".srt"), to_srt(cues))
    contact_sheet(video, scene_moments(spec), sheet)
    _write_text(layout, json.dumps(layout_report(spec), indent=1))
