"""Text boxes of a render's `layout.json` (written by the engine's `report.py`) against a
safe zone and against the decoded pixels behind them: every box but the product's inside
the zone, and every text box legible, its ink as rendered against what is actually behind
it (WCAG contrast). The layout says where the text is; the pixels say how it reads.

Pure measurement over numbers and pixel arrays (no decoder, no engine): QC and the tests'
viewer (`tests/support/viewer.py`) measure the same way.

Example::

    problems, readings = layout_problems(layout, (1080, 1920), 30.0, zone)
    for entry, time_s in readings:                 # decode the frame at time_s, then
        problem = contrast_problem(entry, time_s, crop_of(frame, clamped_box(entry, size)))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Box = tuple[float, float, float, float]

# Boxes that may sit anywhere (the product may fill the frame), and boxes without words.
ZONE_FREE_KINDS = frozenset({"product"})
WORDLESS_KINDS = frozenset({"product", "logo"})
# WCAG 2.x AA for normal text.
MIN_CONTRAST = 4.5
# A pixel this far (RGB distance) from a text box's ink is background, not glyph.
BACKGROUND_DISTANCE = 100.0
# The share of a box's pixels nearest the ink colour that stand for the rendered ink.
INK_SHARE = 0.10
# Bigger boxes are measured on a grid of about this many pixels: a headline line has ~100k,
# and the statistics (the tenth nearest the ink, the median of the rest) settle far sooner.
MAX_MEASURED_PIXELS = 20_000
# Rounding of box edges: a box may poke this many pixels past the safe zone.
EDGE_TOLERANCE_PX = 1.0

Problem = Literal["size", "zone", "boxes", "empty", "unsafe", "blank", "window", "contrast"]


@dataclass(frozen=True)
class LayoutProblem:
    problem: Problem
    message: str
    entry: Mapping[str, Any] | None = None  # the box it concerns
    time_s: float | None = None  # when it was measured (contrast)
    ratio: float | None = None  # the contrast measured


def relative_luminance(rgb: Iterable[float]) -> float:
    """WCAG 2.x relative luminance of an sRGB colour (0-255 channels)."""
    channels = []
    for value in rgb:
        c = float(value) / 255
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: Iterable[float], second: Iterable[float]) -> float:
    """WCAG contrast ratio of two colours, 1.0 (same) to 21.0 (black on white)."""
    a, b = relative_luminance(first), relative_luminance(second)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def _colour(values: np.ndarray) -> tuple[float, float, float]:
    red, green, blue = (float(v) for v in values[:3])
    return red, green, blue


@dataclass(frozen=True)
class BoxContrast:
    ratio: float
    ink: tuple[float, float, float]
    background: tuple[float, float, float] | None


def crop_contrast(pixels: np.ndarray, ink: Sequence[float]) -> BoxContrast:
    """Contrast of a text box as rendered, from its (h, w, 3) RGB pixels: its ink is the
    mean of the 10% of pixels nearest the declared ink colour (what compression left of
    the glyphs), its background the median of the pixels far from the ink (> 100 RGB).
    Ratio 1.0 with no background."""
    height, width = pixels.shape[:2]
    if not height * width:
        raise ValueError("no pixels to measure")
    step = max(1, math.ceil(math.sqrt(height * width / MAX_MEASURED_PIXELS)))
    flat = np.asarray(pixels[::step, ::step], dtype=np.float32).reshape(-1, 3)
    offset = flat - np.asarray(ink, dtype=np.float32)[:3]
    distance = np.einsum("ij,ij->i", offset, offset)  # squared
    count = max(1, int(len(flat) * INK_SHARE))
    nearest = np.argpartition(distance, count - 1)[:count]
    ink_seen = _colour(flat[nearest].mean(axis=0, dtype=np.float64))
    far = flat[distance > BACKGROUND_DISTANCE**2]
    # A few stray pixels (anti-aliasing, noise) are no background to read against.
    if len(far) < max(4, 0.02 * len(flat)):
        return BoxContrast(1.0, ink_seen, None)
    background = _colour(np.median(far, axis=0))
    return BoxContrast(contrast_ratio(ink_seen, background), ink_seen, background)


def inside(box: Sequence[float], zone: Sequence[float]) -> bool:
    tol = EDGE_TOLERANCE_PX
    return (
        box[0] >= zone[0] - tol
        and box[1] >= zone[1] - tol
        and box[2] <= zone[2] + tol
        and box[3] <= zone[3] + tol
    )


def describe(entry: Mapping[str, Any]) -> str:
    text = f" {entry['text']!r}" if entry.get("text") else ""
    return f"scene {entry.get('scene')} {entry.get('kind')}{text}"


def clamped_box(entry: Mapping[str, Any], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box's pixels inside a frame of `size` (rounded)."""
    limits = (size[0], size[1]) * 2
    x0, y0, x1, y1 = (
        round(min(max(float(v), 0.0), float(limit)))
        for v, limit in zip(entry["box"], limits, strict=True)
    )
    return x0, y0, x1, y1


def layout_problems(
    layout: Mapping[str, Any], size: tuple[int, int], duration_s: float, zone: Sequence[float]
) -> tuple[list[LayoutProblem], list[tuple[Mapping[str, Any], float]]]:
    """What is wrong with the layout of a video of `size` and `duration_s` without looking
    at a pixel (its size differs from the video's; the zone is not inside the frame; a box
    is empty, outside `zone`, a text box without text or shown outside the video), and the
    text boxes to read: each with the middle of the window it is shown in."""
    width, height = size
    problems: list[LayoutProblem] = []
    laid = tuple(int(v) for v in layout["size"])
    if laid != (width, height):
        problems.append(
            LayoutProblem("size", f"layout size {laid[0]}x{laid[1]} != video {width}x{height}")
        )
    zone = [float(v) for v in zone]
    if not inside(zone, (0, 0, width, height)):
        problems.append(
            LayoutProblem("zone", f"safe zone {zone} is not inside the {width}x{height} frame")
        )
    boxes = list(layout.get("boxes", []))
    if not boxes:
        problems.append(LayoutProblem("boxes", "the layout has no boxes"))
    readings: list[tuple[Mapping[str, Any], float]] = []
    for entry in boxes:
        name, box = describe(entry), [float(v) for v in entry["box"]]
        if not (box[2] > box[0] and box[3] > box[1]):
            problems.append(LayoutProblem("empty", f"{name}: empty box {box}", entry))
            continue
        if entry["kind"] not in ZONE_FREE_KINDS and not inside(box, zone):
            problems.append(
                LayoutProblem("unsafe", f"{name}: box {box} is outside the safe zone {zone}", entry)
            )
        if entry["kind"] in WORDLESS_KINDS:
            continue
        if not str(entry.get("text") or "").strip():
            problems.append(LayoutProblem("blank", f"{name}: a text box without text", entry))
        start, end = float(entry["from_s"]), float(entry["to_s"])
        if not 0 <= start < end <= duration_s + 0.05:
            problems.append(
                LayoutProblem(
                    "window", f"{name}: window {start}-{end} s is not inside the video", entry
                )
            )
            continue
        readings.append((entry, (start + end) / 2))
    return problems, readings


def contrast_problem(
    entry: Mapping[str, Any], time_s: float, pixels: np.ndarray
) -> LayoutProblem | None:
    """A problem when the box (its `pixels`, cropped from the frame at `time_s`) reads
    under MIN_CONTRAST against what is behind it."""
    seen = crop_contrast(pixels, entry["ink"])
    if seen.ratio >= MIN_CONTRAST:
        return None
    behind = (
        "no background pixels"
        if seen.background is None
        else "background " + str(tuple(round(v) for v in seen.background))
    )
    message = (
        f"{describe(entry)} at {time_s:.2f} s: contrast {seen.ratio:.2f}:1 < "
        f"{MIN_CONTRAST}:1 (ink {tuple(round(v) for v in seen.ink)}, {behind})"
    )
    return LayoutProblem("contrast", message, entry, time_s, round(seen.ratio, 2))


def fit_inside(source: tuple[int, int], size: tuple[int, int]) -> tuple[float, float, int, int]:
    """Where a `source` frame lands when scaled to fit a frame of `size` and centred (the
    way the engine's `reframe` lays out an export): (scale x, scale y, left, top)."""
    sw, sh = source
    width, height = size
    scale = min(width / sw, height / sh)
    fit_w = min(width, max(2, round(sw * scale / 2) * 2))
    fit_h = min(height, max(2, round(sh * scale / 2) * 2))
    left = (width - fit_w) // 2 // 2 * 2
    top = (height - fit_h) // 2 // 2 * 2
    return fit_w / sw, fit_h / sh, left, top


def reframed_layout(
    layout: Mapping[str, Any], size: tuple[int, int], platform: str
) -> dict[str, Any]:
    """The layout of a video re-framed to `size` for `platform` (an export): every box
    scaled and moved with the picture (the source's safe zone no longer applies)."""
    sx, sy, left, top = fit_inside((int(layout["size"][0]), int(layout["size"][1])), size)

    def moved(box: Sequence[float]) -> list[int]:
        x0, y0, x1, y1 = (float(v) for v in box)
        return [
            round(left + x0 * sx),
            round(top + y0 * sy),
            round(left + x1 * sx),
            round(top + y1 * sy),
        ]

    boxes = [{**entry, "box": moved(entry["box"])} for entry in layout.get("boxes", [])]
    kept = {key: value for key, value in layout.items() if key != "safe_zone"}
    return {**kept, "size": list(size), "platform": platform, "boxes": boxes}
