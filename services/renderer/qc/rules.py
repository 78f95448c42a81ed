"""QC's limits, and the findings the measurements of one file give against them.

Each finding says what a marketer sees or a platform does, where in the video (`start_s`,
`end_s`; the whole file for a property of the file), and what the picture looks like
there (`Shot`: a time, and boxes to outline). Severities: `error` when the platform
refuses the file or viewers will see a defect, `warning` when it will likely hurt the ad,
`info` for facts worth knowing that change nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.renderer.engine.audio import MAX_TRUE_PEAK_DBTP, TARGET_LUFS
from services.renderer.qc.container import ContainerFacts
from services.renderer.qc.decoding import PassFacts, Run
from services.renderer.qc.sound import SoundFacts
from services.renderer.qc.text import MIN_CONTRAST, LayoutProblem, describe
from shared.checks.findings import Finding, Severity
from shared.creative.platforms import Delivery, platform_spec

# Black: blackdetect's own thresholds (a pixel under 10% of the luma range, 98% of such
# pixels), reported when longer than this outside a transition.
BLACK_PIXEL = 0.10
BLACK_PICTURE = 0.98
BLACK_MIN_S = 0.3
# The engine's transitions span at most 0.25 s each side of a cut (a dip may pass through
# black there); a little more for frame rounding.
TRANSITION_HALF_S = 0.3
# A picture that stops, or that nothing visibly moves in, for longer than this (outside
# the end card, which holds the call to action on purpose).
FROZEN_MIN_S = 1.5
# The first frame is blank when its luma barely varies (one flat colour, black included).
BLANK_LUMA_STD = 2.0
# Loudness: the engine masters to TARGET_LUFS; a warning past this far off, an error past
# the larger distance (a track that will sound broken next to other ads).
LOUDNESS_WARN_LU = 1.0
LOUDNESS_ERROR_LU = 3.0
# Under this the track is silence (BS.1770's absolute gate is -70 LUFS).
SILENT_LUFS = -60.0
# Over full scale the decoded sound clips; over MAX_TRUE_PEAK_DBTP a platform's re-encode may.
CLIPPING_DBTP = 0.0
# Sound and picture lengths may differ by an AAC frame and a video frame.
AV_MISMATCH_S = 0.1
# H.264 profiles every phone and platform decodes (8-bit 4:2:0), and the highest level
# platforms list for 1080p60.
PLAYABLE_PROFILES = frozenset({"Baseline", "Constrained Baseline", "Main", "High"})
MAX_H264_LEVEL = 4.2
DURATION_TOLERANCE_S = 0.1
# Aspect ratio may differ from the platform's by rounding to even sizes.
ASPECT_TOLERANCE = 0.01
# Text under 3:1 fails even WCAG's large-text rule: unreadable on a phone.
CONTRAST_ERROR = 3.0


@dataclass(frozen=True)
class Shot:
    """The picture a finding shows: the frame at `time_s`, with `boxes` outlined."""

    time_s: float
    boxes: tuple[tuple[float, float, float, float], ...] = ()


@dataclass
class Found:
    findings: list[Finding] = field(default_factory=list)
    shots: list[Shot] = field(default_factory=list)

    def add(
        self,
        check: str,
        severity: Severity,
        message: str,
        span: tuple[float, float],
        shot: Shot,
        scene: int | None = None,
    ) -> None:
        self.findings.append(
            Finding(
                check=check,
                severity=severity,
                message=message,
                scene=scene,
                start_s=round(span[0], 2),
                end_s=round(span[1], 2),
            )
        )
        self.shots.append(shot)


def _uncovered(run: Run, windows: Iterable[tuple[float, float]]) -> float:
    """How long `run` lasts outside `windows` (which do not overlap)."""
    covered = sum(max(0.0, min(run.end_s, end) - max(run.start_s, start)) for start, end in windows)
    return run.duration_s - covered


def _joined(runs: Iterable[Run], gap_s: float = 0.1) -> list[Run]:
    """Runs that follow one another (freezedetect starts a new run when a drifting
    picture has drifted too far from the first) as one."""
    out: list[Run] = []
    for run in sorted(runs, key=lambda r: r.start_s):
        if out and run.start_s - out[-1].end_s <= gap_s:
            out[-1] = Run(out[-1].start_s, max(out[-1].end_s, run.end_s))
        else:
            out.append(run)
    return out


def _span(run: Run) -> str:
    return f"{run.duration_s:.1f} s ({run.start_s:.1f}–{run.end_s:.1f} s)"


def _transitions(layout: Mapping[str, Any] | None) -> list[tuple[float, float]]:
    """Where the engine may be in a transition: around every cut between scenes."""
    scenes = list(layout.get("scenes", [])) if layout else []
    return [
        (float(scene["start_s"]) - TRANSITION_HALF_S, float(scene["start_s"]) + TRANSITION_HALF_S)
        for scene in scenes[1:]
    ]


def _end_card(layout: Mapping[str, Any] | None) -> list[tuple[float, float]]:
    """The end card's time (the last scene when it is the call to action)."""
    scenes = list(layout.get("scenes", [])) if layout else []
    if scenes and str(scenes[-1].get("beat", "")).strip().lower() == "cta":
        return [(float(scenes[-1]["start_s"]), float(scenes[-1]["end_s"]))]
    return []


def picture_findings(
    facts: PassFacts, layout: Mapping[str, Any] | None, fps: float, found: Found
) -> None:
    cuts, card = _transitions(layout), _end_card(layout)
    for run in facts.black:
        if _uncovered(run, cuts) > BLACK_MIN_S:
            found.add(
                "qc.black_frames",
                "error",
                f"The picture is black for {_span(run)}: viewers scroll past a black screen "
                "and ad reviews reject it.",
                (run.start_s, run.end_s),
                Shot(run.start_s),
            )
    frozen_at = []
    for run in facts.frozen:
        if _uncovered(run, card) > FROZEN_MIN_S:
            frozen_at.append(run)
            found.add(
                "qc.frozen_picture",
                "warning",
                f"The picture stops for {_span(run)}: it looks as if the video hangs.",
                (run.start_s, run.end_s),
                Shot(run.start_s),
            )
    for run in _joined(facts.still):
        overlaps = any(f.start_s < run.end_s and run.start_s < f.end_s for f in frozen_at)
        if not overlaps and _uncovered(run, card) > FROZEN_MIN_S:
            found.add(
                "qc.still_picture",
                "info",
                f"Nothing visibly moves for {_span(run)}: a held card reads as a still image.",
                (run.start_s, run.end_s),
                Shot(run.start_s),
            )
    if facts.first_luma_std is not None and facts.first_luma_std < BLANK_LUMA_STD:
        found.add(
            "qc.blank_first_frame",
            "warning",
            "The first frame is one flat colour: it is the cover people see before the video "
            "plays; open on the hook instead.",
            (0.0, 1 / fps if fps else 0.0),
            Shot(0.0),
        )


def sound_findings(
    sound: SoundFacts | None,
    facts: PassFacts,
    delivery: Delivery,
    platform: str,
    duration_s: float,
    found: Found,
) -> None:
    name = platform_spec(platform).title
    whole = (0.0, duration_s)
    if sound is None or sound.duration_s == 0:
        if delivery.audio_required:
            found.add(
                "qc.audio_missing",
                "error",
                f"The file has no sound track; {name} needs one.",
                whole,
                Shot(0.0),
            )
        return
    if not math.isfinite(sound.loudness_lufs) or sound.loudness_lufs < SILENT_LUFS:
        found.add("qc.silent_audio", "error", "The sound track is silent.", whole, Shot(0.0))
    else:
        off = sound.loudness_lufs - TARGET_LUFS
        if abs(off) > LOUDNESS_WARN_LU:
            how = (
                "quieter: it will sound weak next to other ads"
                if off < 0
                else "louder: the platform will turn it down, or it will sound harsh"
            )
            found.add(
                "qc.loudness",
                "error" if abs(off) > LOUDNESS_ERROR_LU else "warning",
                f"The sound is at {sound.loudness_lufs:.1f} LUFS, {abs(off):.1f} LU {how} "
                f"(target {TARGET_LUFS:g} LUFS).",
                whole,
                Shot(0.0),
            )
    if sound.over_s is not None and sound.true_peak_dbtp > MAX_TRUE_PEAK_DBTP:
        clipping = sound.true_peak_dbtp >= CLIPPING_DBTP
        why = (
            "over full scale: it clips, an audible distortion"
            if clipping
            else f"over the {MAX_TRUE_PEAK_DBTP:g} dBTP ceiling: the platform's re-encoding "
            "may clip it"
        )
        start, end = sound.over_s
        found.add(
            "qc.true_peak",
            "error" if clipping else "warning",
            f"The sound peaks at {sound.true_peak_dbtp:+.1f} dBTP, {why} "
            f"(from {start:.1f} s to {end:.1f} s).",
            sound.over_s,
            Shot(start),
        )
    video_s = facts.video_end_s or duration_s
    if abs(sound.duration_s - video_s) > AV_MISMATCH_S:
        shorter = "sound" if sound.duration_s < video_s else "picture"
        found.add(
            "qc.av_length",
            "warning",
            f"The sound lasts {sound.duration_s:.2f} s and the picture {video_s:.2f} s: the "
            f"{shorter} ends early.",
            (min(sound.duration_s, video_s), max(sound.duration_s, video_s)),
            Shot(min(sound.duration_s, video_s)),
        )


def file_findings(
    container: ContainerFacts,
    facts: PassFacts,
    delivery: Delivery,
    platform: str,
    platform_size: tuple[int, int],
    found: Found,
) -> None:
    """Codec, profile, level, pixel format, frame rate, size, `moov` first, bitrate, file
    size and duration against what the platform takes."""
    name = platform_spec(platform).title
    duration = container.duration_s
    whole, first = (0.0, duration), Shot(0.0)
    if container.video_codec != delivery.video_codec:
        found.add(
            "qc.video_codec",
            "error",
            f"The video is {container.video_codec}; {name} needs {delivery.video_codec}.",
            whole,
            first,
        )
    elif container.video_codec == "h264":
        if container.profile not in PLAYABLE_PROFILES:
            found.add(
                "qc.profile",
                "error",
                f"H.264 profile {container.profile}: phones and {name} expect Baseline, "
                "Main or High.",
                whole,
                first,
            )
        if container.level is not None and container.level > MAX_H264_LEVEL:
            found.add(
                "qc.level",
                "warning",
                f"H.264 level {container.level:g} is above {MAX_H264_LEVEL:g}: some phones "
                "will not play it smoothly.",
                whole,
                first,
            )
    if container.pixel_format != delivery.pixel_format:
        found.add(
            "qc.pixel_format",
            "error",
            f"The pixel format is {container.pixel_format}; {name} needs "
            f"{delivery.pixel_format} (other formats are refused or play with wrong colours).",
            whole,
            first,
        )
    if not delivery.min_fps <= container.fps <= delivery.max_fps:
        found.add(
            "qc.frame_rate",
            "error",
            f"The video runs at {container.fps:g} fps; {name} takes "
            f"{delivery.min_fps:g}–{delivery.max_fps:g} fps.",
            whole,
            first,
        )
    _size_findings(container, name, platform_size, found)
    if delivery.faststart and not container.faststart:
        found.add(
            "qc.faststart",
            "error",
            "The file's index (moov) comes after the media: playback cannot start before the "
            f"whole file has downloaded; {name} needs it first (faststart).",
            whole,
            first,
        )
    if duration > 0:
        kbps = facts.video_bytes * 8 / duration / 1000
        if kbps < delivery.min_video_kbps or kbps > delivery.max_video_kbps:
            found.add(
                "qc.bitrate",
                "error",
                f"The video bitrate is {kbps:.0f} kbps; {name} takes "
                f"{delivery.min_video_kbps:g}–{delivery.max_video_kbps:g} kbps.",
                whole,
                first,
            )
    megabytes = container.size_bytes / 1e6
    if megabytes > delivery.max_file_mb:
        found.add(
            "qc.file_size",
            "error",
            f"The file is {megabytes:.0f} MB; {name} takes at most {delivery.max_file_mb:g} MB.",
            whole,
            first,
        )
    low, high = delivery.min_duration_s, delivery.max_duration_s
    if not low - DURATION_TOLERANCE_S <= duration <= high + DURATION_TOLERANCE_S:
        found.add(
            "qc.duration",
            "error",
            f"The video lasts {duration:.1f} s; {name} takes {low:g}–{high:g} s.",
            whole,
            first,
        )
    if container.audio_codec is not None and container.audio_codec != delivery.audio_codec:
        found.add(
            "qc.audio_codec",
            "error",
            f"The sound is {container.audio_codec}; {name} needs {delivery.audio_codec}.",
            whole,
            first,
        )


def _size_findings(
    container: ContainerFacts, name: str, platform_size: tuple[int, int], found: Found
) -> None:
    width, height = container.width, container.height
    wanted_w, wanted_h = platform_size
    whole, first = (0.0, container.duration_s), Shot(0.0)
    if abs(width / height - wanted_w / wanted_h) > ASPECT_TOLERANCE * wanted_w / wanted_h:
        found.add(
            "qc.resolution",
            "error",
            f"The video is {width}x{height}; {name}'s frame is {wanted_w}x{wanted_h}: it "
            "would be cropped or letterboxed.",
            whole,
            first,
        )
    elif width < wanted_w:
        found.add(
            "qc.resolution",
            "info",
            f"Rendered at {width}x{height}, under {name}'s {wanted_w}x{wanted_h} (a "
            "reduced render size).",
            whole,
            first,
        )


def layout_findings(
    problems: Sequence[LayoutProblem], platform: str, duration_s: float, found: Found
) -> None:
    name = platform_spec(platform).title
    for problem in problems:
        entry = problem.entry
        if entry is None:
            found.add(
                "qc.layout",
                "warning",
                f"The render's layout cannot be checked against the file: {problem.message}.",
                (0.0, duration_s),
                Shot(0.0),
            )
            continue
        x0, y0, x1, y1 = (float(v) for v in entry["box"])
        span = (float(entry.get("from_s", 0.0)), float(entry.get("to_s", duration_s)))
        at = problem.time_s if problem.time_s is not None else (span[0] + span[1]) / 2
        shot = Shot(at, ((x0, y0, x1, y1),))
        what = describe(entry)
        what = what[0].upper() + what[1:]
        scene = int(entry["scene"]) if entry.get("scene") is not None else None
        if problem.problem == "unsafe":
            found.add(
                "qc.safe_zone",
                "error",
                f"{what} is outside {name}'s safe zone: the app's buttons or "
                "captions cover it there.",
                span,
                shot,
                scene,
            )
        elif problem.problem == "contrast" and problem.ratio is not None:
            found.add(
                "qc.text_contrast",
                "error" if problem.ratio < CONTRAST_ERROR else "warning",
                f"{what} reads at {problem.ratio:.1f}:1 against what is behind "
                f"it; text needs {MIN_CONTRAST:g}:1 to be legible on a phone.",
                span,
                shot,
                scene,
            )
        else:
            found.add("qc.layout", "warning", f"{problem.message}.", span, shot, scene)
