"""The render plan, a pure function of the spec: which frames belong to which scene, where
transitions sit, each scene's motion path and caption card.

Scene n owns frames [start, end) (boundaries are rounded cumulative durations, so the total
is the sum of durations to the frame). The transition at a boundary b spans [b - h, b + h):
its first half is rendered by the outgoing scene's clip, its second half by the incoming
one, each rendering the neighbour's picture at those same instants, so clips can be encoded
independently and joined by stream copy. A scene's motion path runs over the whole time it
is visible, transitions included, so it never stops on screen.

Every clip worker rebuilds the same plan from the same spec (it is cheap and deterministic).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from services.renderer.engine.captions import CaptionText, fit_caption_text
from services.renderer.engine.layout import baked_caption_box, caption_area, caption_band
from services.renderer.engine.looks import Look, look_for, rng
from services.renderer.engine.motion import MotionPath, choose_path, end_card_path, map_box
from services.renderer.engine.scaler import MIN_ZOOM
from services.renderer.engine.spec import RenderSpec
from services.renderer.engine.text import FontLoader, font_loader

IntBox = tuple[int, int, int, int]
_DAMPING = (1.0, 0.8, 0.6, 0.4, 0.25, 0.0)
_STILL = MotionPath(zoom=(MIN_ZOOM, MIN_ZOOM), fx=(0.5, 0.5), fy=(0.5, 0.5))


@dataclass(frozen=True)
class Slot:
    position: int  # 0-based
    start: int
    end: int
    fade_in: int  # half-width of the transition at `start` (0: a cut or the first scene)
    fade_out: int  # half-width of the transition at `end`
    path: MotionPath
    end_card: bool
    caption: CaptionText | None
    card_box: IntBox | None
    video: bool = False  # the picture is the scene's video clip (no motion path)

    @property
    def frames(self) -> int:
        return self.end - self.start

    def progress(self, frame: int) -> float:
        """Motion time (0..1) of global `frame` over the span this scene is visible."""
        first = self.start - self.fade_in
        span = self.end + self.fade_out - first
        return (frame - first + 0.5) / span

    def video_time(self, frame: int, fps: int) -> float:
        """Seconds into a video scene's clip at global `frame`: it plays from its start
        when the scene first appears (the start of the transition into it)."""
        return (frame - (self.start - self.fade_in)) / fps

    def reveal(self, frame: int, fps: int, seconds: float) -> float:
        return (frame - self.start + 1) / max(1.0, seconds * fps)


@dataclass(frozen=True)
class Timeline:
    size: tuple[int, int]
    fps: int
    look: Look
    slots: tuple[Slot, ...]

    @property
    def total_frames(self) -> int:
        return self.slots[-1].end


def frame_bounds(durations: list[float], fps: int) -> list[int]:
    bounds = [0]
    total = 0.0
    for duration in durations:
        total += duration
        bounds.append(round(total * fps))
    for a, b in itertools.pairwise(bounds):
        if b <= a:
            raise ValueError(f"every scene must last at least one frame (1/{fps} s)")
    return bounds


def is_end_card(spec: RenderSpec, position: int) -> bool:
    """A cta scene is drawn as the end card, unless it was given a video clip."""
    scene = spec.scenes[position]
    return scene.video_path is None and scene.beat.strip().lower() == "cta"


def build_timeline(spec: RenderSpec) -> Timeline:
    look = look_for(spec.variation)
    fps = spec.fps
    bounds = frame_bounds([s.duration_s for s in spec.scenes], fps)
    count = len(spec.scenes)
    wanted = round(spec.transition_s * fps / 2)
    halves = [0] * (count + 1)
    for b in range(1, count):
        left, right = bounds[b] - bounds[b - 1], bounds[b + 1] - bounds[b]
        halves[b] = max(0, min(wanted, left // 3, right // 3))
    portrait = spec.height > spec.width
    load = font_loader(spec.font_path)
    slots = []
    for position, scene in enumerate(spec.scenes):
        chooser = rng("motion", spec.seed, spec.variation, position)
        end_card = is_end_card(spec, position)
        video = scene.video_path is not None
        if end_card:
            path = end_card_path(chooser)
            caption, card = None, None
        elif video:
            # The footage moves by itself; it has no storyboard caption panel to cover.
            path = _STILL
            path, caption, card = _caption_plan(spec, scene.caption, path, look, load, False)
        else:
            path = choose_path(look.motion, chooser, position, portrait)
            path, caption, card = _caption_plan(
                spec, scene.caption, path, look, load, spec.storyboard_marks
            )
        slots.append(
            Slot(
                position=position,
                start=bounds[position],
                end=bounds[position + 1],
                fade_in=halves[position],
                fade_out=halves[position + 1],
                path=path,
                end_card=end_card,
                caption=caption,
                card_box=card,
                video=video,
            )
        )
    return Timeline(size=spec.size, fps=fps, look=look, slots=tuple(slots))


def _caption_plan(
    spec: RenderSpec, text: str, path: MotionPath, look: Look, load: FontLoader, marks: bool
) -> tuple[MotionPath, CaptionText | None, IntBox | None]:
    """The motion path (damped if needed) and the caption card box for one scene.

    The card must hide the frame's own caption panel wherever the motion carries it, and
    stay inside the caption band; a path that would push the panel out of the band is
    damped until it does not."""
    size = spec.size
    unit = min(size) / 100
    area = caption_area(size)
    pad_x, pad_y = round(unit * 4.0), round(unit * 2.8)
    box = (round(area[2] - area[0]) - 2 * pad_x, round(area[3] - area[1]) - 2 * pad_y)
    caption = fit_caption_text(text, box, unit, load) if text.strip() else None
    panel = baked_caption_box(size, text) if marks else None
    if caption is None and panel is None:
        return path, None, None

    band = caption_band(size)
    margin = max(2.0, unit * 1.2)
    cover: tuple[float, float, float, float] | None = None
    if panel is not None:
        for amount in _DAMPING:
            candidate = path.damped(amount) if amount < 1.0 else path
            cover = _travel(panel, candidate, size, margin)
            if _inside(cover, band):
                path = candidate
                break
        else:
            path = path.damped(0.0)
    boxes = [cover] if cover is not None else []
    if caption is not None:
        cx, cy = (area[0] + area[2]) / 2, (area[1] + area[3]) / 2
        h = caption.height + 2 * pad_y
        w = max(caption.width + 2 * pad_x, (area[2] - area[0]) * 0.55)
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[2] for b in boxes)
    y1 = max(b[3] for b in boxes)
    if look.caption == "band":
        x0, x1 = 0.0, float(size[0])
    card = _even_box((x0, y0, x1, y1), size)
    return path, caption, card


def _travel(
    panel: tuple[float, float, float, float],
    path: MotionPath,
    size: tuple[int, int],
    margin: float,
) -> tuple[float, float, float, float]:
    """Bounding box of the panel's positions over the path, grown by `margin`."""
    boxes = [map_box(panel, path.window(u / 12, size, size), size) for u in range(13)]
    return (
        min(b[0] for b in boxes) - margin,
        min(b[1] for b in boxes) - margin,
        max(b[2] for b in boxes) + margin,
        max(b[3] for b in boxes) + margin,
    )


def _inside(box: tuple[float, float, float, float], band: tuple[float, ...]) -> bool:
    return box[0] >= band[0] and box[1] >= band[1] and box[2] <= band[2] and box[3] <= band[3]


def _even_box(box: tuple[float, float, float, float], size: tuple[int, int]) -> IntBox:
    x0 = max(0, math.floor(box[0] / 2) * 2)
    y0 = max(0, math.floor(box[1] / 2) * 2)
    x1 = min(size[0], math.ceil(box[2] / 2) * 2)
    y1 = min(size[1], math.ceil(box[3] / 2) * 2)
    return (x0, y0, x1, y1)
