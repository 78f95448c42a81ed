"""Deep validation of an uploaded file: its signature says what it claims to be, then a
real decode proves it (Pillow for images, PyAV for audio and video, fontTools and
FreeType for fonts). Synchronous and pure apart from reading the file: run it in a thread.

Example::

    found = inspect(Path("upload.bin"), declared_kind="logo", declared_mime="image/png",
                    max_bytes=50 * 1024 * 1024)
    found.kind, found.format.mime_type, found.width, found.preview
"""

from __future__ import annotations

import hashlib
import itertools
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import av
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont, ImageOps

from services.assets import formats
from services.assets.formats import SNIFF_BYTES, Format, Refused, sniff
from shared.assets import AssetKind

MAX_SIDE_PX = 8192
MAX_DURATION_S = 120.0
PREVIEW_PX = 512
HASH_CHUNK = 1024 * 1024
# Indexed containers declare a duration; packets ending well short of it mean a cut file.
TRUNCATION_SLACK_S = 0.25
TRUNCATION_SLACK_RATIO = 0.02
REQUIRED_FONT_TABLES = ("cmap", "head", "hhea", "hmtx", "maxp", "name", "post")
PILLOW_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
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
FONT_MIME_SUBTYPES = ("font-sfnt", "x-font-ttf", "x-font-otf", "x-font-truetype", "vnd.ms-opentype")


@dataclass(frozen=True)
class Inspection:
    """What an accepted file is; `preview` is a small RGBA picture of it (image, video
    frame, font sample) for the thumbnail and the colours, or None (audio)."""

    kind: AssetKind
    format: Format
    bytes: int
    sha256: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    preview: Image.Image | None = None


def inspect(
    path: Path, declared_kind: AssetKind | None, declared_mime: str | None, max_bytes: int
) -> Inspection:
    """Accept the file at `path` or raise `Refused` with the reason for the client."""
    size = path.stat().st_size
    if size > max_bytes:
        raise Refused(f"the file is {size} bytes; the limit is {max_bytes}", "payload_too_large")
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    fmt = sniff(head)
    _check_declared_mime(fmt, declared_mime)
    if fmt.family == "image":
        kind = _image_kind(fmt, declared_kind)
        width, height, preview = inspect_image(path, fmt)
        found = Inspection(kind, fmt, size, "", width, height, None, preview)
    elif fmt.family == "font":
        _require_kind(declared_kind, ("font",), f"a {fmt.name.upper()} font")
        found = Inspection("font", fmt, size, "", preview=inspect_font(path, fmt))
    else:
        found = inspect_media(path, fmt, declared_kind, size)
    return Inspection(
        found.kind,
        found.format,
        size,
        file_sha256(path),
        found.width,
        found.height,
        found.duration_s,
        found.preview,
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- declared types


def _claimed_family(mime: str | None) -> str | None:
    """The family a Content-Type claims; None for no claim (absent, octet-stream, other)."""
    main, _, sub = (mime or "").split(";")[0].strip().lower().partition("/")
    if main in ("image", "audio", "video", "font"):
        return main
    if main == "application" and sub in FONT_MIME_SUBTYPES:
        return "font"
    if main == "application" and sub in ("ogg", "mp4"):
        return "av"
    return None


def _check_declared_mime(fmt: Format, mime: str | None) -> None:
    claimed = _claimed_family(mime)
    if claimed is None:
        return
    # MP4, WebM and Ogg carry audio, video or both: audio/* and video/* both describe them.
    fits = {
        "image": fmt.family == "image",
        "font": fmt.family == "font",
        "audio": fmt.family in ("audio", "av"),
        "video": fmt.family == "av" or fmt is formats.OGG,
        "av": fmt.family in ("audio", "av"),
    }[claimed]
    if not fits:
        raise Refused(
            f"the file was sent as {mime} but its content is {_describe(fmt)}; "
            "send it with its real type (or as application/octet-stream)"
        )


def _describe(fmt: Format) -> str:
    family = {"image": "image", "font": "font", "audio": "audio", "av": "video"}[fmt.family]
    return f"a {fmt.name.upper()} {family}"


def _require_kind(declared: AssetKind | None, allowed: tuple[str, ...], what: str) -> None:
    if declared is not None and declared not in allowed:
        raise Refused(f"kind '{declared}' was declared but the file is {what}")


def _image_kind(fmt: Format, declared: AssetKind | None) -> AssetKind:
    _require_kind(declared, ("image", "logo"), f"a {fmt.name.upper()} image")
    return declared or "image"


# --------------------------------------------------------------------------- images


def inspect_image(path: Path, fmt: Format) -> tuple[int, int, Image.Image | None]:
    """Width, height and a preview of a JPEG/PNG/WebP that decodes completely."""
    only = [PILLOW_FORMAT[fmt.name]]
    with warnings.catch_warnings():
        # Pillow only warns between its limit and twice it; past the limit is refused here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path, formats=only) as image:
                width, height = image.size
                _check_sides(width, height, "image")
                image.verify()
            with Image.open(path, formats=only) as image:
                image.load()
                return width, height, _image_preview(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise Refused(f"the image is refused as a decompression bomb: {exc}") from None
        except Refused:
            raise
        # Corrupt files surface from deep inside Pillow as many exception types.
        except Exception as exc:
            raise Refused(
                f"the file is not a readable {fmt.name.upper()} image: {_reason(exc)}"
            ) from None


def _reason(exc: Exception) -> str:
    """An exception as a client can read it: ffmpeg's text without its errno prefix."""
    return str(getattr(exc, "strerror", None) or exc or exc.__class__.__name__)


def _check_sides(width: int, height: int, what: str) -> None:
    if width < 1 or height < 1:
        raise Refused(f"the {what} has no pixels ({width}x{height})")
    if max(width, height) > MAX_SIDE_PX:
        raise Refused(
            f"the {what} is {width}x{height} px; at most {MAX_SIDE_PX} px per side is accepted"
        )


def _image_preview(image: Image.Image) -> Image.Image | None:
    try:
        upright = ImageOps.exif_transpose(image)
        preview = upright.convert("RGBA")
    except (OSError, ValueError):
        return None  # an exotic mode (16-bit grey) is still a valid upload, just no preview
    preview.thumbnail((PREVIEW_PX, PREVIEW_PX))
    return preview


# --------------------------------------------------------------------------- fonts


def inspect_font(path: Path, fmt: Format) -> Image.Image:
    """A sample of a TTF/OTF that fontTools parses completely and FreeType can draw."""
    try:
        with TTFont(path, lazy=False) as font:
            tables = set(font.keys())
            missing = [tag for tag in REQUIRED_FONT_TABLES if tag not in tables]
            if not ({"glyf", "loca"} <= tables or "CFF " in tables or "CFF2" in tables):
                missing.append("glyf/CFF")
            if missing:
                raise Refused(f"the font lacks required tables: {', '.join(missing)}")
            font.ensureDecompiled()
            cmap = font.getBestCmap() or {}
        if not any(ord(ch) in cmap for ch in "AaEe0"):
            raise Refused("the font has no glyphs for basic Latin letters; captions need them")
        face = ImageFont.truetype(str(path), 48)
        face.getbbox("Aa")
        return _font_sample(face)
    except Refused:
        raise
    # fontTools reports a malformed table as whatever its parser tripped on.
    except Exception as exc:
        raise Refused(
            f"the file is not a readable {fmt.name.upper()} font: {_reason(exc)}"
        ) from None


def _font_sample(face: ImageFont.FreeTypeFont) -> Image.Image:
    sample = Image.new("RGBA", (PREVIEW_PX, PREVIEW_PX // 2), (255, 255, 255, 255))
    draw = ImageDraw.Draw(sample)
    draw.text((PREVIEW_PX // 2, PREVIEW_PX // 4), "Aa Bb 123", font=face, fill="black", anchor="mm")
    return sample


# --------------------------------------------------------------------------- audio, video


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
            demuxer = container.format.name
            if not demuxer.startswith(DEMUXERS[fmt.name]):
                raise Refused(f"the file starts like {fmt.name.upper()} but is not one")
            streams = _Streams(
                next(iter(container.streams.video), None), next(iter(container.streams.audio), None)
            )
            kind, final = _media_kind(fmt, declared, streams)
            declared_s = container.duration / av.time_base if container.duration else None
            width = height = None
            preview = None
            if kind == "video":
                assert streams.video is not None
                width, height = (
                    streams.video.codec_context.width,
                    streams.video.codec_context.height,
                )
                _check_sides(width, height, "video")
                preview = _first_frame(container, streams.video)
            else:
                assert streams.audio is not None
                _decode_audio(container, streams.audio)
        measured = _demuxed_duration(path)
    except Refused:
        raise
    # A broken file fails in the demuxer or a decoder, each with its own error type.
    except Exception as exc:
        raise Refused(
            f"the file is not a readable {fmt.name.upper()} file: {_reason(exc)}"
        ) from None
    duration = measured or declared_s or 0.0
    if final.family == "av" and declared_s and measured is not None:
        slack = max(TRUNCATION_SLACK_S, declared_s * TRUNCATION_SLACK_RATIO)
        if measured + slack < declared_s:
            raise Refused(
                f"the file is truncated: its data ends at {measured:.1f} s of {declared_s:.1f} s"
            )
    if duration > MAX_DURATION_S:
        raise Refused(f"the {kind} is {duration:.1f} s long; at most {MAX_DURATION_S:.0f} s")
    if duration <= 0:
        raise Refused(f"the {kind} has no duration")
    return Inspection(kind, final, size, "", width, height, round(duration, 3), preview)


def _media_kind(
    fmt: Format, declared: AssetKind | None, streams: _Streams
) -> tuple[AssetKind, Format]:
    if declared not in (None, "audio", "video"):
        raise Refused(f"kind '{declared}' was declared but the file is {_describe(fmt)}")
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


def _first_frame(container: av.container.InputContainer, stream: av.VideoStream) -> Image.Image:
    for frame in container.decode(stream):
        preview = frame.to_image().convert("RGBA")
        preview.thumbnail((PREVIEW_PX, PREVIEW_PX))
        return preview
    raise Refused("the video has no decodable frame")


def _decode_audio(container: av.container.InputContainer, stream: av.AudioStream) -> None:
    if not list(itertools.islice(container.decode(stream), 8)):
        raise Refused("the audio has no decodable frame")


def _demuxed_duration(path: Path) -> float | None:
    """Seconds from the first packet to the end of the last one, from the packets
    themselves (a header can claim any length); None if no packet has a timestamp."""
    start: float | None = None
    end: float | None = None
    with av.open(str(path), metadata_errors="ignore") as container:
        for packet in container.demux():
            if packet.pts is None or packet.time_base is None:
                continue
            at = float(packet.pts * packet.time_base)
            until = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            start = at if start is None else min(start, at)
            end = until if end is None else max(end, until)
    if start is None or end is None:
        return None
    return max(0.0, end - start)


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
