"""Uploaded video clips as a scene's picture: decoded frame by frame, never whole.

A video scene shows its footage instead of a Ken Burns move over its still frame. The video
plays at its own speed from the moment the scene first appears on screen (the start of the
transition into it), resampled to the output fps by showing, at each output instant, the
source frame on screen at that instant. A video shorter than the time its scene is visible
loops back to its start (an ad that freezes on a still frame looks broken; a loop does
not). Each picture is scaled to cover the output size and centre-cropped (aspect kept).

`VideoSource` keeps one decoder open and reads forward; it seeks only when asked for an
earlier instant (a loop, or a fresh start) or one far ahead (a neighbouring clip's
transition at the scene's end), so memory stays flat whatever the video's length.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from services.renderer.engine.scaler import new_yuv420, plane_rows, yuv420_planes

# Decode forward through at most this much video before seeking instead.
SEEK_AHEAD_S = 1.0
_EPSILON_S = 1e-4


class VideoSource:
    """The output-size yuv420p picture of a video at any time (seconds from its start)."""

    def __init__(self, path: Path, size: tuple[int, int], label: str = "") -> None:
        self.path, self.size = Path(path), size
        self.label = label or self.path.name
        try:
            self._container = av.open(str(self.path))
        except (av.FFmpegError, OSError) as exc:
            raise self._error(exc) from exc
        try:
            if not self._container.streams.video:
                raise ValueError(f"{self.label}: {self.path.name} has no video stream")
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = "AUTO"
            time_base = self._stream.time_base
            if time_base is None:
                raise ValueError(f"{self.label}: {self.path.name} has no time base")
            self._time_base = float(time_base)
            self._origin = self._stream.start_time or 0  # pts of the video's start
            self.duration_s = self._duration()
            self._frames: Iterator[av.VideoFrame] | None = None
            self._current: tuple[float, av.VideoFrame] | None = None
            self._next: tuple[float, av.VideoFrame] | None = None
            self._converted: tuple[av.VideoFrame, np.ndarray] | None = None
            self.seeks = 0
            self._first = 0.0  # time of the first frame
            self._seek(0.0)
            if self._next is None:
                raise ValueError(f"{self.label}: {self.path.name} has no decodable frame")
            self._first = self._next[0]
        except BaseException:
            self._container.close()
            raise

    def _error(self, exc: BaseException) -> ValueError:
        return ValueError(f"{self.label}: {self.path.name} is not a readable video: {exc}")

    def close(self) -> None:
        self._frames = None
        self._current = self._next = self._converted = None
        self._container.close()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------- timing

    def _duration(self) -> float:
        """Length of the video stream (the loop period), from the headers, else by demuxing
        (packets only, nothing decoded)."""
        stream = self._stream
        if stream.duration:
            return stream.duration * self._time_base
        end = 0.0
        try:
            for packet in self._container.demux(stream):
                if packet.pts is not None:
                    tail = packet.pts + (packet.duration or 0) - self._origin
                    end = max(end, tail * self._time_base)
        except av.FFmpegError as exc:
            raise self._error(exc) from exc
        if end <= 0 and self._container.duration:
            end = self._container.duration / av.time_base
        if end <= 0:
            raise ValueError(f"{self.label}: {self.path.name} has no measurable duration")
        return end

    def _seek(self, seconds: float) -> None:
        """Restart decoding at the keyframe at or before `seconds`."""
        target = self._origin + math.floor(seconds / self._time_base)
        try:
            self._container.seek(target, stream=self._stream, backward=True)
        except av.FFmpegError as exc:
            raise self._error(exc) from exc
        self.seeks += 1
        self._frames = self._container.decode(self._stream)
        self._current = None
        self._next = self._pull()

    def _pull(self) -> tuple[float, av.VideoFrame] | None:
        if self._frames is None:
            return None
        try:
            frame = next(self._frames, None)
        except av.FFmpegError as exc:
            raise self._error(exc) from exc
        if frame is None:
            self._frames = None
            return None
        if frame.pts is not None:
            when = (frame.pts - self._origin) * self._time_base
        elif self._next is not None:  # no timestamp: one frame period after the last one
            rate = float(self._stream.average_rate or 25)
            when = self._next[0] + 1 / rate
        else:
            when = 0.0
        return when, frame

    def _frame_at(self, seconds: float) -> av.VideoFrame:
        t = seconds % self.duration_s if self.duration_s > 0 else 0.0
        t = max(t, self._first)  # before the first frame's timestamp: the first frame
        here = self._current or self._next  # where the decoder stands
        if here is None or t < here[0] - _EPSILON_S or t - here[0] > SEEK_AHEAD_S:
            self._seek(t)
        while self._next is not None and (self._current is None or self._next[0] <= t + _EPSILON_S):
            self._current, self._next = self._next, None
            self._next = self._pull()
        if self._current is None:
            raise ValueError(f"{self.label}: {self.path.name} has no decodable frame")
        return self._current[1]

    # -------------------------------------------------------------------------------- pictures

    def render(self, seconds: float) -> np.ndarray:
        """A fresh output-size yuv420p buffer (the caller may draw on it) of the picture on
        screen `seconds` after the video's start (looped past its end)."""
        frame = self._frame_at(seconds)
        if self._converted is None or self._converted[0] is not frame:
            self._converted = (frame, self._cover(frame))
        return self._converted[1].copy()

    def _cover(self, frame: av.VideoFrame) -> np.ndarray:
        """The frame (display rotation applied) scaled to cover the output, centre-cropped."""
        out_w, out_h = self.size
        turns = round((frame.rotation or 0) / 90) % 4  # counterclockwise quarter turns
        src_w, src_h = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
        scale = max(out_w / src_w, out_h / src_h)
        cover_w = max(out_w, _even_up(src_w * scale))
        cover_h = max(out_h, _even_up(src_h * scale))
        scaled_w, scaled_h = (cover_h, cover_w) if turns % 2 else (cover_w, cover_h)
        source_range = frame.color_range if frame.color_range else ColorRange.MPEG
        try:
            converted = frame.reformat(
                width=scaled_w,
                height=scaled_h,
                format="yuv420p",
                dst_colorspace=Colorspace.ITU709,
                interpolation=Interpolation.BICUBIC,
                src_color_range=source_range,
                dst_color_range=ColorRange.MPEG,
                threads=1,
            )
        except av.FFmpegError as exc:
            raise self._error(exc) from exc
        buffer = new_yuv420(out_w, out_h)
        x0, y0 = (cover_w - out_w) // 4 * 2, (cover_h - out_h) // 4 * 2
        for i, (plane, out) in enumerate(
            zip(converted.planes, yuv420_planes(buffer, out_w, out_h), strict=True)
        ):
            shift = 0 if i == 0 else 1
            rows = plane_rows(plane)[: scaled_h >> shift, : scaled_w >> shift]
            if turns:
                rows = np.rot90(rows, turns)
            out[:] = rows[
                y0 >> shift : (y0 >> shift) + out.shape[0],
                x0 >> shift : (x0 >> shift) + out.shape[1],
            ]
        return buffer


def _even_up(value: float) -> int:
    return math.ceil(value / 2 - 1e-6) * 2
