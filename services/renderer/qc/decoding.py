"""One pass over a file, decoding it once: the sound in full, and the picture through
libav's own detectors (`blackdetect`, `freezedetect`), plus the frames QC needs to look at
(the first one, those behind each text box, those where something was found).

The decoder skips non-reference frames (`skip_frame=NONREF`: the B-frames no other frame
needs, about half of an x264 stream) and decodes on every core. What is measured is
unchanged by it: x264 puts at most three B-frames in a row, the middle one a reference,
so a picture is decoded at least every 0.1 s, finer than the shortest stretch QC reports
(0.3 s of black). Skipping every B-frame (`BIDIR`) would halve the decoding again, at a
picture every 0.13 s.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from services.renderer.engine.loudness import SAMPLE_RATE
from services.renderer.qc.text import LayoutProblem, clamped_box, contrast_problem

THUMBNAIL_WIDTH = 180
# freezedetect's noise tolerance (mean absolute difference over the range): libav's
# default, 0.001 (-60 dB), finds a picture in which nothing visibly moves from frame to
# frame. That is a picture that stopped, or a held card drifting by a fraction of a pixel
# a frame; they are told apart by comparing each picture of the run with its first one:
# a stopped picture only differs by coding noise (x264 refines a repeated frame, and its
# B-frames differ from its P-frames by a level or two), a drifting one soon differs by
# more than DRIFT_LEVEL in more than DRIFT_SHARE of its pixels (the engine's slowest card
# moves an edge by ~1 px in 0.5 s: ~0.05% of a 1080x1920 frame).
STILL_NOISE = 0.001
DRIFT_LEVEL = 10
DRIFT_SHARE = 0.0001
# Shorter runs are not reported by the detectors (QC's own limits are longer).
DETECT_FREEZE_S = 0.5


@dataclass(frozen=True)
class Run:
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class PassFacts:
    frames: int = 0  # decoded (non-reference frames skipped)
    video_bytes: int = 0
    video_end_s: float = 0.0
    black: list[Run] = field(default_factory=list)
    still: list[Run] = field(default_factory=list)  # nothing visibly moves
    frozen: list[Run] = field(default_factory=list)  # ... and the picture has stopped
    first_luma_std: float | None = None
    has_audio: bool = False
    samples: np.ndarray = field(default_factory=lambda: np.zeros((2, 0), dtype=np.float32))
    contrast: list[LayoutProblem] = field(default_factory=list)
    boxes_read: int = 0
    # Small RGB pictures by time: the first frame, where runs start, boxes that read badly.
    thumbnails: dict[float, np.ndarray] = field(default_factory=dict)


class _Detector:
    """A filter graph of libav detectors; yields each frame with the metadata they set."""

    def __init__(self, stream: av.VideoStream, chain: Sequence[tuple[str, str]]) -> None:
        self.graph = av.filter.Graph()
        nodes = [self.graph.add_buffer(template=stream)]
        nodes += [self.graph.add(name, args) for name, args in chain]
        nodes.append(self.graph.add("buffersink"))
        self.graph.link_nodes(*nodes).configure()

    def push(self, frame: av.VideoFrame | None) -> Iterator[av.VideoFrame]:
        self.graph.push(frame)
        while True:
            try:
                out = self.graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            if isinstance(out, av.VideoFrame):
                yield out


class _Runs:
    """Runs from a detector's start and end metadata (an open run ends with the video)."""

    def __init__(self, start_key: str, end_key: str) -> None:
        self.start_key, self.end_key = start_key, end_key
        self.open: float | None = None
        self.runs: list[Run] = []

    def see(self, metadata: Mapping[str, str]) -> float | None:
        """The start time when a run starts on this frame."""
        started = None
        if self.end_key in metadata and self.open is not None:
            self.runs.append(Run(self.open, float(metadata[self.end_key])))
            self.open = None
        if self.start_key in metadata:
            self.open = started = float(metadata[self.start_key])
        return started

    def close(self, end_s: float) -> list[Run]:
        if self.open is not None:
            self.runs.append(Run(self.open, max(self.open, end_s)))
            self.open = None
        return self.runs


class _Drift:
    """Whether a still picture stays where it stopped: its luma (every other pixel) against
    the picture the run was found on, until it is seen to have moved."""

    def __init__(self) -> None:
        self.reference: np.ndarray | None = None
        self.moved = False

    def start(self, frame: av.VideoFrame) -> None:
        self.reference = _luma(frame).astype(np.int16)
        self.moved = False

    def see(self, frame: av.VideoFrame) -> None:
        if self.reference is None or self.moved:
            return
        changed = np.count_nonzero(np.abs(_luma(frame) - self.reference) > DRIFT_LEVEL)
        self.moved = bool(changed > max(4, DRIFT_SHARE * self.reference.size))

    def stopped(self) -> bool:
        """Whether the run that ends now never moved (and forget it)."""
        stopped, self.reference = self.reference is not None and not self.moved, None
        return stopped


def _luma(frame: av.VideoFrame) -> np.ndarray:
    """Every other luma sample of every other row (without the row padding)."""
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    return rows[: frame.height : 2, : frame.width : 2]


def thumbnail(frame: av.VideoFrame) -> np.ndarray:
    """The frame as a small RGB picture (THUMBNAIL_WIDTH wide, never enlarged)."""
    width = min(THUMBNAIL_WIDTH, frame.width)
    height = max(2, round(frame.height * width / frame.width / 2) * 2)
    small = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
    picture: np.ndarray = small.to_ndarray()
    return picture


def _luma_spread(frame: av.VideoFrame) -> float:
    """Standard deviation of the luma (a flat picture is ~0)."""
    return float(_luma(frame).std())


def decode_pass(
    path: Path,
    black_pixel: float,
    black_picture: float,
    readings: Sequence[tuple[Mapping[str, Any], float]] = (),
    snapshots: Sequence[float] = (),
) -> PassFacts:
    """Decode `path` once. `black_pixel`, `black_picture`: blackdetect's thresholds (a
    pixel's luma as a share of the range, the share of such pixels in a black picture).
    `readings`: text boxes to measure at a time; `snapshots`: times to keep a picture of."""
    facts = PassFacts()
    wanted = sorted(readings, key=lambda reading: reading[1])
    shots = sorted(set(snapshots))
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        video.codec_context.skip_frame = "NONREF"
        audio = container.streams.audio[0] if container.streams.audio else None
        facts.has_audio = audio is not None
        half_frame = 0.5 / float(video.average_rate or video.guessed_rate or 30)
        detectors = _Detector(
            video,
            [
                ("blackdetect", f"d=0:pix_th={black_pixel}:pic_th={black_picture}"),
                ("freezedetect", f"n={STILL_NOISE}:d={DETECT_FREEZE_S}"),
            ],
        )
        black = _Runs("lavfi.black_start", "lavfi.black_end")
        still = _Runs("lavfi.freezedetect.freeze_start", "lavfi.freezedetect.freeze_end")
        drift = _Drift()
        resampler = (
            av.AudioResampler(format="fltp", layout=audio.layout.name, rate=SAMPLE_RATE)
            if audio is not None
            else None
        )
        chunks: list[np.ndarray] = []

        def looked_at(frame: av.VideoFrame) -> None:
            time = frame.time or 0.0
            if facts.first_luma_std is None:
                facts.first_luma_std = _luma_spread(frame)
                facts.thumbnails[time] = thumbnail(frame)
            while shots and time >= shots[0] - half_frame:
                facts.thumbnails[shots.pop(0)] = thumbnail(frame)
            due = []
            while wanted and time >= wanted[0][1] - half_frame:
                due.append(wanted.pop(0))
            if due:
                _read_boxes(frame, due, facts)

        def detected(frames: Iterator[av.VideoFrame]) -> None:
            for out in frames:
                metadata = out.metadata
                if still.end_key in metadata and still.open is not None and drift.stopped():
                    facts.frozen.append(Run(still.open, float(metadata[still.end_key])))
                black_from, still_from = black.see(metadata), still.see(metadata)
                for started in (black_from, still_from):
                    if started is not None and started not in facts.thumbnails:
                        facts.thumbnails[started] = thumbnail(out)
                if still_from is not None:
                    drift.start(out)
                elif still.open is not None:
                    drift.see(out)

        streams = [video] + ([audio] if audio is not None else [])
        for packet in container.demux(*streams):
            if packet.stream is video:
                facts.video_bytes += packet.size
                if packet.pts is not None and packet.time_base is not None:
                    end = (packet.pts + (packet.duration or 0)) * packet.time_base
                    facts.video_end_s = max(facts.video_end_s, float(end))
            for frame in packet.decode():
                if isinstance(frame, av.AudioFrame):
                    assert resampler is not None
                    chunks.extend(part.to_ndarray() for part in resampler.resample(frame))
                    continue
                if not isinstance(frame, av.VideoFrame):
                    continue
                facts.frames += 1
                looked_at(frame)
                detected(detectors.push(frame))
        detected(detectors.push(None))
        if resampler is not None:
            chunks.extend(part.to_ndarray() for part in resampler.resample(None))
    if still.open is not None and drift.stopped():
        facts.frozen.append(Run(still.open, max(still.open, facts.video_end_s)))
    facts.black = black.close(facts.video_end_s)
    facts.still = still.close(facts.video_end_s)
    if chunks:
        facts.samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    return facts


def _read_boxes(
    frame: av.VideoFrame, due: Sequence[tuple[Mapping[str, Any], float]], facts: PassFacts
) -> None:
    """Measure each due text box on this frame (full resolution: strokes are thin)."""
    pixels = frame.to_ndarray(format="rgb24")
    size = (frame.width, frame.height)
    for entry, time in due:
        x0, y0, x1, y1 = clamped_box(entry, size)
        if x1 <= x0 or y1 <= y0:
            continue
        facts.boxes_read += 1
        problem = contrast_problem(entry, time, pixels[y0:y1, x0:x1])
        if problem is None:
            continue
        facts.contrast.append(problem)
        if time not in facts.thumbnails:
            facts.thumbnails[time] = thumbnail(frame)


def pictures_at(path: Path, times: Sequence[float]) -> dict[float, np.ndarray]:
    """Thumbnails at `times` (seeking to each; for findings made after the pass, such as
    where the sound clips). A time past the end gives the last frame."""
    found: dict[float, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for time in sorted(set(times)):
            if stream.time_base is not None:
                container.seek(int(max(0.0, time) / stream.time_base), stream=stream)
            last = None
            for frame in container.decode(stream):
                last = frame
                if (frame.time or 0.0) >= time:
                    break
            if last is not None:
                found[time] = thumbnail(last)
    return found
