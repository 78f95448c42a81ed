"""`check_video`: the QC report of one rendered file, and the thumbnails its findings show.

Container facts first (no decoding), then one decoding pass (`decoding.py`), the sound's
meters, and the findings against the platform's delivery spec (`platforms.toml`) and the
engine's layout. A thumbnail is a small JPEG of the frame a finding is about, the box in
question outlined; findings about the whole file show the first frame.

Example::

    result = check_video(path, "tiktok", layout, lambda n: f"videos/{job}/qc/v1_{n}.jpg")
    result.report.status               # "pass"
    result.thumbnails                  # {key: jpeg bytes} for the findings' thumbnail_key
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from services.renderer.engine.audio import MAX_TRUE_PEAK_DBTP
from services.renderer.qc.container import ContainerFacts, container_facts
from services.renderer.qc.decoding import PassFacts, decode_pass, pictures_at
from services.renderer.qc.rules import (
    BLACK_PICTURE,
    BLACK_PIXEL,
    Found,
    Shot,
    file_findings,
    layout_findings,
    picture_findings,
    sound_findings,
)
from services.renderer.qc.sound import SoundFacts, measure_sound
from services.renderer.qc.text import LayoutProblem, layout_problems
from shared.checks.findings import Finding, QcReport
from shared.creative.platforms import platform_spec

THUMBNAIL_QUALITY = 80
# A picture kept during the pass stands for a finding this close in time.
NEAR_S = 0.15
MARK = (255, 48, 48)


@dataclass(frozen=True)
class QcResult:
    report: QcReport
    thumbnails: dict[str, bytes]  # storage key -> JPEG, as named by the findings


def check_video(
    path: Path,
    platform: str,
    layout: Mapping[str, Any] | None = None,
    thumbnail_key: Callable[[int], str] = lambda n: f"qc_{n}.jpg",
) -> QcResult:
    """Measure the file at `path` against `platform`'s delivery spec and, when given, the
    render's `layout` (`layout.json`, in this file's frame: see `text.reframed_layout`).
    Thumbnails are named `thumbnail_key(1)`, `thumbnail_key(2)` ... and set on the
    findings. ValueError for an unknown platform."""
    started = time.perf_counter()
    spec = platform_spec(platform)
    path = Path(path)
    try:
        container = container_facts(path)
    except ValueError as exc:
        finding = Finding(
            check="qc.unreadable",
            severity="error",
            message=f"The file cannot be read as a video: {exc}.",
        )
        return QcResult(QcReport.of([finding], {}, time.perf_counter() - started), {})
    size = (container.width, container.height)
    problems: list[LayoutProblem] = []
    readings: list[tuple[Mapping[str, Any], float]] = []
    if layout is not None:
        zone = spec.safe_zone(size)
        problems, readings = layout_problems(layout, size, container.duration_s, zone)
        if any(problem.problem == "size" for problem in problems):
            # Boxes of another frame say nothing about this one.
            problems = [problem for problem in problems if problem.problem == "size"]
            readings = []
    snapshots = [
        (float(p.entry["from_s"]) + float(p.entry["to_s"])) / 2
        for p in problems
        if p.entry is not None and "from_s" in p.entry
    ]
    facts = decode_pass(path, BLACK_PIXEL, BLACK_PICTURE, readings, snapshots)
    sound = None
    if facts.has_audio:
        sound = measure_sound(facts.samples, MAX_TRUE_PEAK_DBTP)
    found = Found()
    delivery = spec.delivery
    file_findings(container, facts, delivery, platform, spec.size, found)
    picture_findings(facts, layout, container.fps, found)
    sound_findings(sound, facts, delivery, platform, container.duration_s, found)
    layout_findings([*problems, *facts.contrast], platform, container.duration_s, found)
    pairs = sorted(
        zip(found.findings, found.shots, strict=True),
        key=lambda pair: (pair[0].start_s or 0.0, pair[0].check),
    )
    findings = [finding for finding, _ in pairs]
    thumbnails = _thumbnails(
        path, [shot for _, shot in pairs], facts, size, findings, thumbnail_key
    )
    measured = _measured(container, facts, sound)
    report = QcReport.of(findings, measured, round(time.perf_counter() - started, 3))
    return QcResult(report, thumbnails)


def _thumbnails(
    path: Path,
    shots: list[Shot],
    facts: PassFacts,
    size: tuple[int, int],
    findings: list[Finding],
    thumbnail_key: Callable[[int], str],
) -> dict[str, bytes]:
    """One JPEG per distinct shot; each finding names its own."""
    kept = sorted(facts.thumbnails)

    def near(at: float) -> float | None:
        best = min(kept, key=lambda t: abs(t - at), default=None)
        return best if best is not None and abs(best - at) <= NEAR_S else None

    missing = [shot.time_s for shot in shots if near(shot.time_s) is None]
    seen = dict(facts.thumbnails)
    if missing:
        seen.update(pictures_at(path, missing))
    stored: dict[Shot, str] = {}
    out: dict[str, bytes] = {}
    for finding, shot in zip(findings, shots, strict=True):
        if shot not in stored:
            at = near(shot.time_s)
            picture = seen.get(at if at is not None else shot.time_s)
            if picture is None:
                continue
            key = thumbnail_key(len(out) + 1)
            out[key] = _jpeg(picture, shot, size)
            stored[shot] = key
        finding.thumbnail_key = stored[shot]
    return out


def _jpeg(picture: np.ndarray, shot: Shot, size: tuple[int, int]) -> bytes:
    image = Image.fromarray(picture)
    if shot.boxes:
        scale_x, scale_y = image.width / size[0], image.height / size[1]
        draw = ImageDraw.Draw(image)
        for x0, y0, x1, y1 in shot.boxes:
            draw.rectangle(
                (x0 * scale_x, y0 * scale_y, x1 * scale_x, y1 * scale_y), outline=MARK, width=2
            )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY)
    return buffer.getvalue()


def _measured(
    container: ContainerFacts, facts: PassFacts, sound: SoundFacts | None
) -> dict[str, float | int | str | bool]:
    """The figures behind the findings (a silent track's -inf levels are left out)."""
    duration = container.duration_s
    figures: dict[str, float | int | str | bool | None] = {
        "duration_s": round(duration, 3),
        "width": container.width,
        "height": container.height,
        "fps": round(container.fps, 3),
        "video_codec": container.video_codec,
        "profile": container.profile,
        "level": container.level,
        "pixel_format": container.pixel_format,
        "faststart": container.faststart,
        "video_kbps": round(facts.video_bytes * 8 / duration / 1000, 1) if duration else None,
        "file_mb": round(container.size_bytes / 1e6, 3),
        "video_s": round(facts.video_end_s, 3),
        "frames_decoded": facts.frames,
        "text_boxes_read": facts.boxes_read,
        "audio_codec": container.audio_codec,
    }
    if sound is not None:
        figures["audio_s"] = round(sound.duration_s, 3)
        figures["loudness_lufs"] = round(sound.loudness_lufs, 2)
        figures["true_peak_dbtp"] = round(sound.true_peak_dbtp, 2)
    return {
        name: value
        for name, value in figures.items()
        if value is not None and not (isinstance(value, float) and not math.isfinite(value))
    }
