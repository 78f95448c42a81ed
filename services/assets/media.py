"""Audio and video: ffmpeg (PyAV) must agree with the signature, demux every packet and
decode the first frames; the packets' own timestamps give the duration and expose a file
cut short. Synchronous: run it in a thread."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
from PIL import Image

from services.assets import formats
from services.assets.formats import Format, Refused, describe
from services.assets.inspection import (
    MAX_DURATION_S,
    PREVIEW_PX,
    Inspection,
    check_sides,
    reason,
)
from shared.assets import AssetKind

# Packets of the chosen stream decoded to prove the codec data is real (the rest is demuxed).
DECODE_PACKETS = 8
# Indexed containers declare a duration; packets ending well short of it mean a cut file.
TRUNCATION_SLACK_S = 0.25
TRUNCATION_SLACK_RATIO = 0.02
# What ffmpeg's probe must agree on for each signature (its names of the demuxers).
DEMUXERS = {
    "mp3": ("mp3",),
    "aac": ("aac",),
    "wav": ("wav",),
    "ogg": ("ogg",),
    "mp4": ("mov,mp4",),
    "mov": ("mov,mp4",),
    "webm": ("matroska,webm", "webm"),
}


@dataclass(frozen=True)
class _Streams:
    video: av.VideoStream | None
    audio: av.AudioStream | None


def inspect_media(path: Path, fmt: Format, declared: AssetKind | None, size: int) -> Inspection:
    """Audio or video that ffmpeg demuxes to the end and whose first frames decode."""
    if fmt is formats.WAV:
        _check_riff(path, size)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.format.name.startswith(DEMUXERS[fmt.name]):
                raise Refused(f"the file starts like {fmt.name.upper()} but is not one")
            video = next(iter(container.streams.video), None)
            audio = next(iter(container.streams.audio), None)
            kind, final = _media_kind(fmt, declared, _Streams(video, audio))
            declared_s = container.duration / av.time_base if container.duration else None
            width = height = None
            if kind == "video":
                assert video is not None
                width, height = video.codec_context.width, video.codec_context.height
                check_sides(width, height, "video")
            target = video if kind == "video" else audio
            assert target is not None
            scan = _scan(container, target, want_preview=kind == "video")
    except Refused:
        raise
    # A broken file fails in the demuxer or a decoder, each with its own error type.
    except Exception as exc:
        raise Refused(
            f"the file is not a readable {fmt.name.upper()} file: {reason(exc)}"
        ) from None
    if scan.frames == 0:
        raise Refused(f"the {kind} has no decodable frame")
    measured = scan.duration_s
    if final.family == "av" and declared_s and measured is not None:
        slack = max(TRUNCATION_SLACK_S, declared_s * TRUNCATION_SLACK_RATIO)
        if measured + slack < declared_s:
            raise Refused(
                f"the file is truncated: its data ends at {measured:.1f} s of {declared_s:.1f} s"
            )
    duration = measured or declared_s or 0.0
    if duration > MAX_DURATION_S:
        raise Refused(f"the {kind} is {duration:.1f} s long; at most {MAX_DURATION_S:.0f} s")
    if duration <= 0:
        raise Refused(f"the {kind} has no duration")
    return Inspection(kind, final, size, "", width, height, round(duration, 3), scan.preview)


@dataclass
class _Scan:
    """One pass over every packet: the span their timestamps cover (a header can claim
    any length) and the first frames of the stream that matters, decoded."""

    start: float | None = None
    end: float | None = None
    frames: int = 0
    preview: Image.Image | None = None

    @property
    def duration_s(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)

    def saw(self, packet: av.Packet[Any]) -> None:
        if packet.pts is None or packet.time_base is None:
            return
        at = float(packet.pts * packet.time_base)
        until = float((packet.pts + (packet.duration or 0)) * packet.time_base)
        self.start = at if self.start is None else min(self.start, at)
        self.end = until if self.end is None else max(self.end, until)

    def decoded(self, frames: list[av.AudioFrame] | list[av.VideoFrame], preview: bool) -> None:
        for frame in frames:
            self.frames += 1
            if preview and self.preview is None and isinstance(frame, av.VideoFrame):
                image = frame.to_image().convert("RGBA")  # type: ignore[no-untyped-call]
                image.thumbnail((PREVIEW_PX, PREVIEW_PX))
                self.preview = image


def _scan(
    container: av.container.InputContainer,
    target: av.VideoStream | av.AudioStream,
    want_preview: bool,
) -> _Scan:
    scan = _Scan()
    fed = 0
    for packet in container.demux():
        scan.saw(packet)
        if packet.stream.index == target.index and packet.size and fed < DECODE_PACKETS:
            fed += 1
            scan.decoded(target.codec_context.decode(packet), want_preview)
    if scan.frames == 0:
        # Decoders with a delay (B-frames) hold their first frames until flushed.
        scan.decoded(target.codec_context.decode(None), want_preview)
    return scan


def _media_kind(
    fmt: Format, declared: AssetKind | None, streams: _Streams
) -> tuple[AssetKind, Format]:
    if declared not in (None, "audio", "video"):
        raise Refused(f"kind '{declared}' was declared but the file is {describe(fmt)}")
    if fmt.family == "audio" or fmt is formats.OGG:
        if declared == "video" or (declared is None and streams.video is not None):
            raise Refused(f"{fmt.name.upper()} is accepted for audio only; use MP4/MOV/WebM")
        if streams.audio is None:
            raise Refused(f"the {fmt.name.upper()} file has no audio stream")
        return "audio", fmt
    if streams.video is None and streams.audio is None:
        raise Refused(f"the {fmt.name.upper()} file holds no audio or video (truncated?)")
    kind: AssetKind = declared or ("video" if streams.video is not None else "audio")
    if kind == "video" and streams.video is None:
        raise Refused(f"kind 'video' was declared but the {fmt.name.upper()} file has no video")
    if kind == "audio" and streams.audio is None:
        raise Refused(f"kind 'audio' was declared but the {fmt.name.upper()} file has no audio")
    if kind == "audio" and fmt is formats.WEBM:
        raise Refused("WebM is accepted for video only; send audio as MP3, AAC, WAV or Ogg")
    return kind, (formats.M4A if kind == "audio" else fmt)


def _check_riff(path: Path, size: int) -> None:
    """A WAV whose `data` chunk claims more bytes than the file holds was cut short
    (ffmpeg would quietly play the part that is there)."""
    with path.open("rb") as fh:
        offset = 12
        while offset + 8 <= size:
            fh.seek(offset)
            chunk_id, length = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                # 0 and 0xFFFFFFFF mean "unknown": what a streaming writer leaves behind.
                if length not in (0, 0xFFFFFFFF) and offset + 8 + length > size:
                    raise Refused(
                        f"the WAV file is truncated: {length} bytes of audio announced, "
                        f"{size - offset - 8} present"
                    )
                return
            offset += 8 + length + (length & 1)
    raise Refused("the WAV file has no audio data chunk")
