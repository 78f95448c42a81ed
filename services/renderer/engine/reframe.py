"""`reframe`: export a finished video for another aspect ratio (9:16, 1:1, 16:9).

Blurred-background pad: the whole source frame, scaled to fit, sits centred over a blurred,
darkened fill of itself scaled to cover. Nothing is cropped, so captions and the logo stay
inside the frame. The fill is blurred at 1/8 size (cheap) and scaled up by swscale. Audio
packets are copied unchanged. Frames stream through the encoder one at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation, VideoReformatter
from PIL import ImageFilter

from services.renderer.engine.encode import add_h264_stream, atomic_output
from services.renderer.engine.probe import probe
from services.renderer.engine.scaler import (
    frame_from_image,
    frame_to_image,
    new_yuv420,
    plane_rows,
    to_video_frame,
    yuv420_planes,
)
from services.renderer.engine.spec import RenderCanceled, RenderSpec, VideoInfo

_CANCEL_CHECK_FRAMES = 15
_PROGRESS_EVERY_S = 0.5
_FILL_BRIGHTNESS = 0.55
_FILL_DOWNSCALE = 8


def _canceled(cancel_file: Path | None, count: int) -> bool:
    return cancel_file is not None and count % _CANCEL_CHECK_FRAMES == 0 and cancel_file.exists()


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


class _Padder:
    """Builds the padded output frame for each decoded source frame."""

    def __init__(self, source: tuple[int, int], size: tuple[int, int]) -> None:
        sw, sh = source
        width, height = size
        self.size = size
        scale = min(width / sw, height / sh)
        self.fit = (min(width, _even(sw * scale)), min(height, _even(sh * scale)))
        self.at = ((width - self.fit[0]) // 2 // 2 * 2, (height - self.fit[1]) // 2 // 2 * 2)
        self.small = (max(8, width // _FILL_DOWNSCALE), max(8, height // _FILL_DOWNSCALE))
        # The fill covers the output: crop the source to the output's aspect ratio.
        cover = max(self.small[0] / sw, self.small[1] / sh)
        self.cover_size = (
            max(self.small[0], round(sw * cover)),
            max(self.small[1], round(sh * cover)),
        )
        self._fg = VideoReformatter()
        self._small = VideoReformatter()
        self._fill = VideoReformatter()
        self._darken = [round(v * _FILL_BRIGHTNESS) for v in range(256)] * 3

    def frame(self, frame: av.VideoFrame) -> np.ndarray:
        width, height = self.size
        small = frame_to_image(
            self._small.reformat(
                frame, *self.cover_size, format="rgb24", interpolation=Interpolation.AREA, threads=1
            )
        )
        left = (small.width - self.small[0]) // 2
        top = (small.height - self.small[1]) // 2
        fill = small.crop((left, top, left + self.small[0], top + self.small[1]))
        fill = fill.filter(ImageFilter.GaussianBlur(max(1.0, min(self.small) / 12)))
        fill = fill.point(self._darken)
        background = self._fill.reformat(
            frame_from_image(fill),
            width,
            height,
            format="yuv420p",
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.MPEG,
            interpolation=Interpolation.BILINEAR,
            threads=1,
        )
        out = new_yuv420(width, height)
        for plane, dst in zip(background.planes, yuv420_planes(out, width, height), strict=True):
            dst[:] = plane_rows(plane)[: dst.shape[0], : dst.shape[1]]
        fg = self._fg.reformat(
            frame, *self.fit, format="yuv420p", interpolation=Interpolation.BICUBIC, threads=1
        )
        x, y = self.at
        for i, (plane, dst) in enumerate(
            zip(fg.planes, yuv420_planes(out, width, height), strict=True)
        ):
            shift = 0 if i == 0 else 1
            w, h = self.fit[0] >> shift, self.fit[1] >> shift
            rows = plane_rows(plane)
            dst[y >> shift : (y >> shift) + h, x >> shift : (x >> shift) + w] = rows[:h, :w]
        return out


def reframe(
    src: Path,
    size: tuple[int, int],
    out_path: Path,
    spec: RenderSpec | None = None,
    progress: Callable[[float], None] | None = None,
    cancel_file: Path | None = None,
) -> VideoInfo:
    """`src` re-laid out at `size` (even width and height) with a blurred-background pad.
    Encoder settings (crf, preset) come from `spec` when given. Audio is copied. Raises
    RenderCanceled (leaving no file) if `cancel_file` appears."""
    width, height = int(size[0]), int(size[1])
    if width < 16 or height < 16 or width % 2 or height % 2:
        raise ValueError(f"size must be even and at least 16 px, got {size!r}")
    crf = spec.crf if spec is not None else 23
    preset = spec.preset if spec is not None else "veryfast"
    src, out_path = Path(src), Path(out_path)
    last_report = 0.0
    with atomic_output(out_path) as tmp, av.open(str(src)) as source:
        if not source.streams.video:
            raise ValueError(f"{src.name} has no video stream")
        video_in = source.streams.video[0]
        video_in.thread_type = "AUTO"
        audio_in = source.streams.audio[0] if source.streams.audio else None
        rate = video_in.average_rate or video_in.guessed_rate or Fraction(30)
        total = video_in.frames or 0
        duration = (source.duration or 0) / av.time_base
        if not total and duration:
            total = round(duration * rate)
        padder = _Padder(
            (video_in.codec_context.width, video_in.codec_context.height), (width, height)
        )
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            video_out = add_h264_stream(out, (width, height), Fraction(rate), crf, preset, 0)
            audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None
            streams = [video_in] + ([audio_in] if audio_in is not None else [])
            count = 0
            for packet in source.demux(*streams):
                if packet.stream is audio_in:
                    if packet.size and audio_out is not None:
                        packet.stream = audio_out
                        out.mux(packet)
                    continue
                for frame in packet.decode():
                    if not isinstance(frame, av.VideoFrame):
                        continue
                    if _canceled(cancel_file, count):
                        raise RenderCanceled(f"reframe of {src.name}: canceled")
                    buffer = padder.frame(frame)
                    encoded = to_video_frame(buffer, width, height)
                    encoded.pts = count
                    encoded.time_base = 1 / Fraction(rate)
                    out.mux(video_out.encode(encoded))
                    count += 1
                    now = time.monotonic()
                    if progress is not None and total and now - last_report >= _PROGRESS_EVERY_S:
                        last_report = now
                        progress(min(0.99, count / total))
            out.mux(video_out.encode(None))
    if progress is not None:
        progress(1.0)
    return probe(out_path)
