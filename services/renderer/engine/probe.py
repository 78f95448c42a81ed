"""Reading videos back: stream facts (`probe`), a JPEG poster frame, stored metadata."""

from __future__ import annotations

from pathlib import Path

import av
from av.container import InputContainer
from av.video.stream import VideoStream

from services.renderer.engine.encode import atomic_output
from services.renderer.engine.scaler import frame_to_image
from services.renderer.engine.spec import VideoInfo

POSTER_QUALITY = 88


def duration_s(container: InputContainer, video: VideoStream) -> float:
    """The file's duration: the container's, else the video stream's, else 0."""
    if container.duration is not None:
        return float(container.duration / av.time_base)
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    return 0.0


def probe(path: Path) -> VideoInfo:
    """Facts about the video at `path`; ValueError if it has no readable video stream."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path.name} has no video stream")
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            duration = duration_s(container, video)
            rate = video.average_rate or video.guessed_rate or 0
            return VideoInfo(
                path=path,
                duration_s=round(duration, 3),
                width=video.codec_context.width,
                height=video.codec_context.height,
                fps=float(rate),
                size_bytes=path.stat().st_size,
                video_codec=video.codec_context.name,
                pix_fmt=str(video.codec_context.pix_fmt),
                audio_codec=audio.codec_context.name if audio is not None else None,
            )
    except av.FFmpegError as exc:
        raise ValueError(f"{path.name} is not a readable video: {exc}") from exc


def read_comment(path: Path) -> str | None:
    """The container's `comment` metadata (where clips keep their fingerprint)."""
    try:
        with av.open(str(path)) as container:
            return container.metadata.get("comment")
    except (av.FFmpegError, OSError):
        return None


def video_frame_count(path: Path) -> int:
    """Number of video packets (= frames) in the file, counted by demuxing."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def poster_frame(video_path: Path, out_path: Path, at_s: float | None = None) -> Path:
    """A JPEG of the frame at `at_s` seconds (default: 1 s in, or the middle of a shorter
    video: the first scene with its caption fully revealed)."""
    video_path, out_path = Path(video_path), Path(out_path)
    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        duration = (container.duration or 0) / av.time_base
        target = min(1.0, duration / 2) if at_s is None else max(0.0, at_s)
        if duration:
            target = min(target, max(0.0, duration - 0.05))
        if stream.time_base is not None and target > 0:
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is not None and frame.time + 1e-6 >= target:
                break
        if chosen is None:
            raise ValueError(f"{video_path.name} has no decodable frame")
        image = frame_to_image(chosen)
    with atomic_output(out_path) as tmp:
        image.save(tmp, "JPEG", quality=POSTER_QUALITY)
    return out_path
