"""H.264 encoding of yuv420p buffers into MP4, and the write-to-temp-then-rename rule.

Every clip is encoded with the same x264 settings for a given spec, so their SPS/PPS are
identical and `compose` can join them by copying packets. Colour is tagged BT.709 limited
range, matching how frames are converted (`scaler.rgb_to_yuv420`).

Rate control is CRF (the quality) inside a VBV whose rate is both a cap and, with x264's
filler data, a floor: every platform sets a minimum video bitrate (TikTok 516 kbps,
`shared/creative/platforms.toml`), and CRF alone spends ~300 kbps on a 1080x1920 motion
graphic. The rate grows with the frame (`video_kbps`), so model footage is not starved.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from services.renderer.engine.scaler import to_video_frame
from shared.creative.platforms import platforms

_BT709 = 1  # AVCOL_PRI_BT709 == AVCOL_TRC_BT709 == AVCOL_SPC_BT709
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG
# The floor sits this far above the strictest platform's minimum: x264 pads only once its
# buffer is full, so each clip (they are joined by stream copy) starts under the rate.
_FLOOR_MARGIN = 1.15
# The cap for big frames: ~2.5 Mbps at 1080x1920 and 30 fps, room for model footage that
# CRF 23 would otherwise push past it.
_BITS_PER_PIXEL = 0.04
_VBV_SECONDS = 2


def video_kbps(size: tuple[int, int], fps: float) -> int:
    """The constant video rate of an encode: above every platform's minimum, and ~0.04 bits
    per pixel for big frames."""
    floor = _FLOOR_MARGIN * max(spec.delivery.min_video_kbps for spec in platforms().values())
    return round(max(floor, _BITS_PER_PIXEL * size[0] * size[1] * float(fps) / 1000))


@contextlib.contextmanager
def atomic_output(out_path: Path) -> Iterator[Path]:
    """A temporary path next to `out_path`, renamed onto it if the block succeeds and
    deleted if it fails (readers never see a half-written file)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        yield tmp
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)


def add_h264_stream(
    container: av.container.OutputContainer,
    size: tuple[int, int],
    fps: int | Fraction,
    crf: int,
    preset: str,
    threads: int,
) -> av.VideoStream:
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    rate = Fraction(fps)
    stream.time_base = 1 / rate
    context = stream.codec_context
    context.time_base = 1 / rate
    context.thread_count = max(0, threads)
    context.colorspace = _BT709
    context.color_primaries = _BT709
    context.color_trc = _BT709
    context.color_range = _LIMITED_RANGE
    kbps = video_kbps(size, float(rate))
    context.options = {
        "crf": str(crf),
        "preset": preset,
        "maxrate": f"{kbps}k",
        "bufsize": f"{kbps * _VBV_SECONDS}k",
        "x264-params": "filler=1",
    }
    return stream


class VideoEncoder:
    """Streams yuv420p buffers into an H.264 MP4 (constant frame rate, pts = frame index)."""

    def __init__(
        self,
        path: Path,
        size: tuple[int, int],
        fps: int,
        crf: int,
        preset: str,
        threads: int = 0,
        metadata: dict[str, str] | None = None,
        faststart: bool = False,
    ) -> None:
        options = {"movflags": "+faststart"} if faststart else {}
        self.container = av.open(str(path), "w", format="mp4", options=options)
        if metadata:
            self.container.metadata.update(metadata)
        self.stream = add_h264_stream(self.container, size, fps, crf, preset, threads)
        self.size = size
        self.frames = 0
        self._time_base = Fraction(1, fps)

    def write(self, buffer: np.ndarray) -> None:
        frame = to_video_frame(buffer, *self.size)
        frame.pts = self.frames
        frame.time_base = self._time_base
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()

    def abort(self) -> None:
        with contextlib.suppress(av.FFmpegError, OSError):
            self.container.close()
