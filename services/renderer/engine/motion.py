"""Ken Burns motion: eased pan/zoom paths over a scene's source image.

A path interpolates the zoom (geometrically, so the zoom speed looks even) and a pan anchor
(fx, fy) in [0, 1]: the window of size base/zoom sits at fx * (free width), fy * (free
height). A constant anchor is a zoom about the point (fx * width, fy * height); a changing
anchor at constant zoom is a pan. Any zoom >= 1 with anchors in [0, 1] keeps the window
inside the source, so no path can show an edge.

The velocity profile is a trapezoid (accelerate over the first 30%, glide, decelerate over
the last 30%): an ease in/out whose peak speed is only 1.4x the average, so the middle of a
scene does not rush. A scene's path spans its transitions too, so it never stops while it
is on screen.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from services.renderer.engine.scaler import MIN_ZOOM, Window

_RAMP = 0.3
END_CARD_ZOOM = (MIN_ZOOM, 1.08)


def ease(u: float) -> float:
    """Position (0..1) at time `u` (0..1) for a trapezoidal velocity profile."""
    u = min(1.0, max(0.0, u))
    peak = 1.0 / (1.0 - _RAMP)
    if u < _RAMP:
        return 0.5 * peak * u * u / _RAMP
    if u > 1.0 - _RAMP:
        rest = 1.0 - u
        return 1.0 - 0.5 * peak * rest * rest / _RAMP
    return peak * (u - _RAMP / 2)


@dataclass(frozen=True)
class MotionPath:
    zoom: tuple[float, float]
    fx: tuple[float, float]
    fy: tuple[float, float]

    def state(self, u: float) -> tuple[float, float, float]:
        e = ease(u)
        z0, z1 = self.zoom
        zoom = z0 * (z1 / z0) ** e
        return zoom, _lerp(self.fx, e), _lerp(self.fy, e)

    def window(self, u: float, source: tuple[int, int], output: tuple[int, int]) -> Window:
        """The source rectangle (x, y, w, h) shown at time `u`."""
        zoom, fx, fy = self.state(u)
        base_w, base_h = cover_size(source, output)
        w, h = base_w / zoom, base_h / zoom
        return fx * (source[0] - w), fy * (source[1] - h), w, h

    def damped(self, amount: float) -> MotionPath:
        """The same path with its amplitude scaled by `amount` (0 = still)."""

        def toward(values: tuple[float, float], rest: float) -> tuple[float, float]:
            return (rest + (values[0] - rest) * amount, rest + (values[1] - rest) * amount)

        mid_x, mid_y = sum(self.fx) / 2, sum(self.fy) / 2
        return replace(
            self,
            zoom=toward(self.zoom, MIN_ZOOM),
            fx=toward(self.fx, mid_x),
            fy=toward(self.fy, mid_y),
        )


def cover_size(source: tuple[int, int], output: tuple[int, int]) -> tuple[float, float]:
    """The largest rectangle of the output's aspect ratio that fits in `source`."""
    sw, sh = source
    aspect = output[0] / output[1]
    if sw / sh > aspect:
        return sh * aspect, float(sh)
    return float(sw), sw / aspect


def map_box(
    box: tuple[float, float, float, float], window: Window, output: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Where a source box lands in the output frame when `window` is shown."""
    x, y, w, h = window
    kx, ky = output[0] / w, output[1] / h
    return ((box[0] - x) * kx, (box[1] - y) * ky, (box[2] - x) * kx, (box[3] - y) * ky)


def _lerp(pair: tuple[float, float], t: float) -> float:
    return pair[0] + (pair[1] - pair[0]) * t


# ------------------------------------------------------------------------------ choosing paths

_KINDS = ("zoom_in", "zoom_out", "pan_vertical", "pan_horizontal", "diagonal")


def choose_path(family: str, rng: random.Random, position: int, portrait: bool) -> MotionPath:
    """A scene's path for a variation's motion `family`; `position` is 0-based."""
    if family == "gentle":
        kind = ("zoom_in", "zoom_out")[(position + rng.randrange(2)) % 2]
        return _path(kind, rng, strength=0.09, portrait=portrait)
    if family == "drift":
        kind = "pan_vertical" if portrait else "pan_horizontal"
        if rng.random() < 0.3:
            kind = "diagonal"
        return _path(kind, rng, strength=0.1, portrait=portrait, flip=position % 2 == 1)
    if family == "push_in":
        return _path("zoom_in", rng, strength=0.14, portrait=portrait, drift=0.25)
    if family == "pull_out":
        return _path("zoom_out", rng, strength=0.14, portrait=portrait, drift=0.25)
    kind = _KINDS[(position * 2 + rng.randrange(len(_KINDS))) % len(_KINDS)]
    return _path(kind, rng, strength=0.12, portrait=portrait, drift=0.15)


def end_card_path(rng: random.Random) -> MotionPath:
    """A gentle push towards the button: the end card never freezes."""
    fy = rng.uniform(0.5, 0.6)
    return MotionPath(zoom=END_CARD_ZOOM, fx=(0.5, 0.5), fy=(fy, fy))


def _path(
    kind: str,
    rng: random.Random,
    strength: float,
    portrait: bool,
    drift: float = 0.08,
    flip: bool = False,
) -> MotionPath:
    low, high = MIN_ZOOM, MIN_ZOOM + strength
    ax, ay = rng.uniform(0.3, 0.7), rng.uniform(0.25, 0.6)
    dx, dy = rng.uniform(-drift, drift), rng.uniform(-drift, drift)
    if kind == "zoom_in":
        return MotionPath((low, high), _clamp2(ax - dx, ax + dx), _clamp2(ay - dy, ay + dy))
    if kind == "zoom_out":
        return MotionPath((high, low), _clamp2(ax + dx, ax - dx), _clamp2(ay + dy, ay - dy))
    mid = MIN_ZOOM + strength * 0.8
    span = (0.1, 0.9)
    if flip != (rng.random() < 0.5):
        span = (0.9, 0.1)
    if kind == "pan_vertical":
        return MotionPath((mid, mid), (ax, ax), span)
    if kind == "pan_horizontal":
        return MotionPath((mid, mid), span, (ay, ay))
    # diagonal: a slow zoom while crossing corner to corner
    other = span if rng.random() < 0.5 else (span[1], span[0])
    return MotionPath((low + strength * 0.4, high), span, other)


def _clamp2(a: float, b: float) -> tuple[float, float]:
    return (min(1.0, max(0.0, a)), min(1.0, max(0.0, b)))
