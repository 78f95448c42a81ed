"""One scene's picture at any frame: its plate (the style's background with the product,
drawn by the design system, or a model's picture) moved along its path, or its video clip,
with the scene's text layers on top — the headline revealed word by word (or line by line)
as the scene starts, the end card's logo and button popping in.

The layers are the design system's (`shared.creative`), the same the storyboard frame is
drawn from; each is converted to an overlay once and blended per frame.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from services.renderer.engine.looks import rng
from services.renderer.engine.motion import choose_path
from services.renderer.engine.overlay import Overlay
from services.renderer.engine.scaler import PaddedSource, SubpixelScaler
from services.renderer.engine.spec import RenderSpec
from services.renderer.engine.timeline import Slot, Timeline
from services.renderer.engine.transitions import blend
from services.renderer.engine.video import VideoSource
from shared.creative.frame import SceneLayers, scene_layers
from shared.creative.layers import Layer, flatten
from shared.creative.plate import decode_product, draw_plate
from shared.creative.styles import style_spec
from shared.models import Style

# The plate is drawn this much larger than the frame: the motion zooms into it by up to
# ~15%, and upscaling would soften text-free edges such as the product's.
PLATE_SCALE = 1.12
# A scene longer than this cuts to a second shot halfway (blended over SHOT_BLEND_S).
LONG_SCENE_S = 6.5
SHOT_BLEND_S = 0.3
# Kinetic reveal: every word in within REVEAL_S of the cut, each eased over WORD_S.
REVEAL_S = 0.4
WORD_S = 0.25
_RISE = 0.35  # how far a word rises into place, in line heights


def ease_out(p: float) -> float:
    p = min(1.0, max(0.0, p))
    return 1.0 - (1.0 - p) ** 3


def load_picture(path: Path, size: tuple[int, int]) -> Image.Image:
    """A picture (a model's frame, a plate) scaled and centre-cropped to `size`."""
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"scene picture {path.name} is not a readable image: {exc}") from exc
    return ImageOps.fit(image, size, Image.Resampling.LANCZOS)


# A clip worker renders neighbouring clips one after another, and each clip needs its
# neighbours' pictures for the transitions: keep the last few prepared plates.
_CACHE_SIZE = 3
_plates: OrderedDict[tuple[object, ...], PaddedSource] = OrderedDict()


def _file_key(path: Path | None) -> tuple[str, int, int] | None:
    if path is None:
        return None
    stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_size)


def _closer(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A product box grown by a fifth, downwards and to the sides (its top stays below
    the headline; inside the frame): the second shot of a long scene comes in closer."""
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) // 10, (y1 - y0) // 5
    return (max(0, x0 - dx), y0, min(size[0], x1 + dx), min(size[1], y1 + dy))


def _plate(spec: RenderSpec, slot: Slot, layers: SceneLayers, shot: int = 1) -> PaddedSource:
    scene = spec.scenes[slot.position]
    design, layout = slot.design, layers.layout
    if shot > 1:
        design = dataclasses.replace(design, seed=f"{design.seed}/shot{shot}")
        if layout.product is not None:
            layout = dataclasses.replace(layout, product=_closer(layout.product, design.size))
    key = (design, layout.product, _file_key(scene.frame_path), _file_key(spec.product_path))
    source = _plates.get(key)
    if source is not None:
        _plates.move_to_end(key)
        return source
    size = (round(spec.width * PLATE_SCALE / 2) * 2, round(spec.height * PLATE_SCALE / 2) * 2)
    picture = load_picture(scene.frame_path, size) if scene.frame_path is not None else None
    product = None
    if design.has_product and picture is None and spec.product_path is not None:
        product = decode_product(spec.product_path.read_bytes())
    image = draw_plate(design, layout, product, PLATE_SCALE, picture)
    source = PaddedSource.from_image(image)
    _plates[key] = source
    while len(_plates) > _CACHE_SIZE:
        _plates.popitem(last=False)
    return source


@dataclass
class _Animated:
    layer: Layer
    size: tuple[int, int]
    delay_s: float
    rise: int  # pixels the layer rises over its reveal
    fade: bool  # False: fully opaque from the start (the hook: text on the first frame)
    _overlay: Overlay | None = None

    @property
    def overlay(self) -> Overlay:
        # Built on first use: a neighbour's scene, drawn only for a transition, never
        # shows its reveal, and converting every word costs more than the frames it is in.
        if self._overlay is None:
            layer = self.layer
            self._overlay = Overlay(layer.image, layer.x, layer.y, self.size)
        return self._overlay


class TextLayers:
    """The scene's layers as overlays: animated until REVEAL_S, then one settled overlay
    (each converted on first use)."""

    def __init__(self, layers: SceneLayers, size: tuple[int, int], style: Style, first: bool):
        self.size = size
        self._parts: list[Layer] = [*layers.surfaces, *layers.words, *layers.end_card]
        self._settled: Overlay | None = None
        self.animated: list[_Animated] = []
        by_line = style_spec(style).reveal == "lines"
        block = layers.layout.headline
        pitch = block.fitted.pitch if block is not None else 0
        # The hook is set still from the first frame: readable before anything moves.
        rise = 0 if first else round(pitch * _RISE)
        words = layers.words
        count = max(1, len(words))
        stagger = (REVEAL_S - WORD_S) / max(1, count - 1)
        line_of = _line_numbers(layers)
        for line, surface in enumerate(layers.surfaces):
            delay = _delay(line_of, line, stagger, by_line)
            self.animated.append(_Animated(surface, size, delay, 0, not first))
        for index, word in enumerate(words):
            delay = line_of[index] * 0.1 if by_line else index * stagger
            self.animated.append(_Animated(word, size, delay, rise, not first))
        for order, layer in enumerate(layers.end_card):
            self.animated.append(_Animated(layer, size, 0.1 * order, rise // 2 or 8, True))

    @property
    def settled(self) -> Overlay | None:
        if self._settled is None and self._parts:
            flat = flatten(self._parts, "scene", "", (0, 0, 0))
            if flat is not None:
                self._settled = Overlay(flat.image, flat.x, flat.y, self.size)
        return self._settled

    def apply(self, buffer: np.ndarray, seconds: float) -> None:
        if seconds >= REVEAL_S + 0.05:
            if (settled := self.settled) is not None:
                settled.apply(buffer)
            return
        for part in self.animated:
            p = ease_out((seconds - part.delay_s) / WORD_S)
            if part.fade and p <= 0.0:
                continue
            dy = round(part.rise * (1.0 - p))
            if part.fade and p < 1.0:
                value = np.array([[round(256 * p)]], dtype=np.uint16)
                part.overlay.apply(buffer, value, value, dy=dy)
            else:
                part.overlay.apply(buffer, dy=dy)


def _line_numbers(layers: SceneLayers) -> list[int]:
    """The headline line of each word layer (by its vertical position)."""
    block = layers.layout.headline
    if block is None:
        return [0] * len(layers.words)
    tops = [origin[1] for origin in block.origins]
    result = []
    for word in layers.words:
        line = min(range(len(tops)), key=lambda i: abs(tops[i] - word.y))
        result.append(line)
    return result


def _delay(line_of: list[int], line: int, stagger: float, by_line: bool) -> float:
    if by_line:
        return line * 0.1
    first_word = next((i for i, value in enumerate(line_of) if value == line), 0)
    return first_word * stagger


class SceneRenderer:
    def __init__(
        self, spec: RenderSpec, timeline: Timeline, slot: Slot, scaler: SubpixelScaler
    ) -> None:
        self.slot = slot
        self.size = spec.size
        self.fps = spec.fps
        self.scaler = scaler
        self.video: VideoSource | None = None
        scene = spec.scenes[slot.position]
        layers = scene_layers(slot.design, spec.logo_path if slot.end_card else None)
        self.layers = layers
        self.cut: int | None = None
        if slot.video and scene.video_path is not None:
            self.video = VideoSource(scene.video_path, spec.size, f"scene {scene.index}")
        else:
            self.source = _plate(spec, slot, layers)
            self.source_size = (self.source.width, self.source.height)
            if not slot.end_card and slot.frames > LONG_SCENE_S * spec.fps:
                # A long scene cuts to a second, closer shot halfway, the headline staying:
                # a held picture loses the viewer, and the brief has no more to say here.
                self.cut = slot.start + slot.frames // 2
                self.second = _plate(spec, slot, layers, shot=2)
                chooser = rng("second shot", spec.seed, spec.variation, slot.position)
                self.second_path = choose_path("mixed", chooser, slot.position + 1,
                                               spec.height > spec.width)  # fmt: skip
        self.text = TextLayers(layers, spec.size, slot.design.style, slot.position == 0)

    def _picture(self, frame: int) -> np.ndarray:
        slot = self.slot
        if self.cut is None:
            window = slot.path.window(slot.progress(frame), self.source_size, self.size)
            return self.scaler.render(self.source, window)
        first_span = self.cut - (slot.start - slot.fade_in)
        second_span = slot.end + slot.fade_out - self.cut
        blend_half = max(1, round(SHOT_BLEND_S * self.fps / 2))
        if frame < self.cut + blend_half:
            u = (frame - (slot.start - slot.fade_in) + 0.5) / (first_span + blend_half)
            first = self.scaler.render(
                self.source, slot.path.window(u, self.source_size, self.size)
            )
            if frame < self.cut - blend_half:
                return first
        v = (frame - (self.cut - blend_half) + 0.5) / (second_span + blend_half)
        second = self.scaler.render(
            self.second, self.second_path.window(v, self.source_size, self.size)
        )
        if frame >= self.cut + blend_half:
            return second
        p = (frame - (self.cut - blend_half) + 0.5) / (2 * blend_half)
        return blend("dissolve", first, second, p, self.size)

    def render(self, frame: int) -> np.ndarray:
        if self.video is not None:
            buffer = self.video.render(self.slot.video_time(frame, self.fps))
        else:
            buffer = self._picture(frame)
        self.text.apply(buffer, self.slot.seconds_in(frame, self.fps))
        return buffer

    def close(self) -> None:
        if self.video is not None:
            self.video.close()
