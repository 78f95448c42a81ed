"""What a file says about itself, read without decoding a frame: streams, codec, profile,
level, pixel format, frame rate, size, duration, and whether `moov` (the index a player
needs first) comes before `mdat` (the media), so playback starts before the download ends.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import av

from services.renderer.engine.probe import duration_s


@dataclass(frozen=True)
class ContainerFacts:
    size_bytes: int
    duration_s: float
    width: int
    height: int
    fps: float
    video_codec: str
    profile: str | None
    level: float | None  # H.264 level as written, e.g. 4.0
    pixel_format: str
    audio_codec: str | None
    faststart: bool


def container_facts(path: Path) -> ContainerFacts:
    """ValueError when the file has no readable video stream."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path.name} has no video stream")
            video = container.streams.video[0]
            context = video.codec_context
            audio = container.streams.audio[0] if container.streams.audio else None
            duration = duration_s(container, video)
            level = context.level
            return ContainerFacts(
                size_bytes=path.stat().st_size,
                duration_s=duration,
                width=context.width,
                height=context.height,
                fps=float(video.average_rate or video.guessed_rate or 0),
                video_codec=context.name,
                profile=context.profile,
                # libavcodec reports H.264 levels times ten (40 for 4.0); unknown is <= 0.
                level=level / 10 if level and level > 0 else None,
                pixel_format=str(context.pix_fmt),
                audio_codec=audio.codec_context.name if audio is not None else None,
                faststart=moov_before_mdat(path),
            )
    except av.FFmpegError as exc:
        raise ValueError(f"{path.name} is not a readable video: {exc}") from exc


def moov_before_mdat(path: Path) -> bool:
    """Whether the top-level `moov` box comes before the first `mdat` (ISO BMFF: each box is
    a 32-bit size and a 4-character type; size 1 means a 64-bit size follows, 0 means "to
    the end of the file"). Reads a few headers, never the media."""
    with path.open("rb") as handle:
        while header := handle.read(8):
            if len(header) < 8:
                return False
            size, kind = struct.unpack(">I4s", header)
            if kind == b"moov":
                return True
            if kind == b"mdat" or size == 0:
                return False
            if size == 1:
                (size,) = struct.unpack(">Q", handle.read(8))
                handle.seek(size - 16, 1)
            elif size < 8:
                return False
            else:
                handle.seek(size - 8, 1)
    return False
