"""The render plan, a pure function of the spec: which frames belong to which scene, where
transitions sit, each scene's motion path and design.

Scene n owns frames [start, end). Cuts land on the music's beat grid (`beats.cut_frames`).
The transition at a boundary b spans [b - h, b + h): its first half is rendered by the
outgoing scene's clip, its second half by the incoming one, each rendering the neighbour's
picture at those same instants, so clips can be encoded independently and joined by stream
copy. A scene's motion path runs over the whole time it is visible, transitions included,
so it never stops on screen. Scenes carrying legal lines keep at least their planned time:
a cut is never snapped into their span, since their time on screen is what makes the lines
readable.

Every clip worker rebuilds the same plan from the same spec (it is cheap and deterministic).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from services.renderer.engine.beats import cut_frames
from services.renderer.engine.looks import Look, look_for, rng
from services.renderer.engine.motion import MotionPath, choose_path, end_card_path
from services.renderer.engine.scaler import MIN_ZOOM
from services.renderer.engine.spec import RenderSpec
from shared.creative.layout import SceneDesign

_STILL = MotionPath(zoom=(MIN_ZOOM, MIN_ZOOM), fx=(0.5, 0.5), fy=(0.5, 0.5))
# The end card holds the call to action this long at least (reveal and transition aside).
END_CARD_MIN_S = 2.0


@dataclass(frozen=True)
class Slot:
    position: int  # 0-based
    start: int
    end: int
    fade_in: int  # half-width of the transition at `start` (0: a cut or the first scene)
    fade_out: int  # half-width of the transition at `end`
    path: MotionPath
    end_card: bool
    design: SceneDesign
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

    def seconds_in(self, frame: int, fps: int) -> float:
        """Seconds since the cut into this scene (negative during the transition in)."""
        return (frame - self.start) / fps


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
    """A cta scene is the end card: logo and button over its picture (a still plate, model
    footage or an uploaded clip)."""
    return spec.scenes[position].beat.strip().lower() == "cta"


def scene_bounds(spec: RenderSpec) -> list[int]:
    """Cuts on the beat grid; the end card keeps its reading time (its cut is moved back
    to the unsnapped frame when snapping would shorten it below END_CARD_MIN_S), and so
    does every run of scenes carrying the same legal lines (the cuts around it never
    snap inwards)."""
    plain = frame_bounds([s.duration_s for s in spec.scenes], spec.fps)
    bounds = cut_frames(spec)
    if len(bounds) != len(plain):
        return plain
    last = len(spec.scenes) - 1
    if last > 0 and is_end_card(spec, last):
        wanted = min(plain[-1] - plain[-2], round(END_CARD_MIN_S * spec.fps))
        if bounds[-1] - bounds[-2] < wanted:
            bounds[-2] = plain[-2]
    for cut in range(1, len(spec.scenes)):
        before, after = spec.scenes[cut - 1].disclaimers, spec.scenes[cut].disclaimers
        if after and after != before:
            bounds[cut] = min(bounds[cut], plain[cut])  # a run starts: not later
        elif before and after != before:
            bounds[cut] = max(bounds[cut], plain[cut])  # a run ends: not earlier
    return bounds


def scene_design(spec: RenderSpec, position: int) -> SceneDesign:
    scene = spec.scenes[position]
    return SceneDesign(
        size=spec.size,
        platform=spec.platform,
        style=spec.style,
        beat=scene.beat.strip().lower() or "solution",
        headline=scene.caption,
        has_product=scene.shows_product,
        has_logo=spec.logo_path is not None,
        call_to_action=spec.call_to_action,
        brand_font=str(spec.font_path) if spec.font_path is not None else None,
        palette=spec.palette,
        seed=spec.seed,
        disclaimers=scene.disclaimers,
        ai_label=spec.ai_label,
    )


def build_timeline(spec: RenderSpec) -> Timeline:
    look = look_for(spec.variation)
    fps = spec.fps
    bounds = scene_bounds(spec)
    count = len(spec.scenes)
    wanted = round(spec.transition_s * fps / 2)
    halves = [0] * (count + 1)
    for b in range(1, count):
        left, right = bounds[b] - bounds[b - 1], bounds[b + 1] - bounds[b]
        halves[b] = max(0, min(wanted, left // 3, right // 3))
    portrait = spec.height > spec.width
    slots = []
    for position, scene in enumerate(spec.scenes):
        chooser = rng("motion", spec.seed, spec.variation, position)
        end_card = is_end_card(spec, position)
        video = scene.video_path is not None
        if video:
            path = _STILL  # the footage moves by itself
        elif end_card:
            path = end_card_path(chooser)
        else:
            path = choose_path(look.motion, chooser, position, portrait)
        slots.append(
            Slot(
                position=position,
                start=bounds[position],
                end=bounds[position + 1],
                fade_in=halves[position],
                fade_out=halves[position + 1],
                path=path,
                end_card=end_card,
                design=scene_design(spec, position),
                video=video,
            )
        )
    return Timeline(size=spec.size, fps=fps, look=look, slots=tuple(slots))
