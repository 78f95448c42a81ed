"""Outputs: found in whatever shape the API gives (`FileOutput` objects, https URLs,
`data:` URIs, lists of them), fetched at once (they expire after an hour), and checked
before the stage moves on: an image must decode, a clip must decode with the expected
length and orientation, audio must decode.

Example::

    urls = output_urls(prediction.output)
    data = await fetch_output(api, urls[0], model, max_bytes=IMAGE_MAX_BYTES)
    jpeg = image_to_jpeg(data, (108, 192))
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageOps, UnidentifiedImageError

from shared.providers.replicate.client import ReplicateApi
from shared.providers.replicate.errors import OutputInvalid, ProviderRejected

IMAGE_MAX_BYTES = 40 * 1024 * 1024
VIDEO_MAX_BYTES = 400 * 1024 * 1024
AUDIO_MAX_BYTES = 80 * 1024 * 1024
DATA_URI_MAX_BYTES = 256 * 1024  # Replicate takes data: inputs up to 256 KB
Image.MAX_IMAGE_PIXELS = 50_000_000


def output_urls(output: Any) -> list[str]:
    """Every file URL in an output: FileOutput objects (`.url`), strings, nested lists."""
    if output is None:
        return []
    if isinstance(output, list | tuple):
        return [url for item in output for url in output_urls(item)]
    url = getattr(output, "url", output)
    if isinstance(url, str) and url.startswith(("https://", "http://", "data:")):
        return [url]
    return []


def decode_data_uri(uri: str) -> bytes:
    header, sep, payload = uri.partition(",")
    if not sep or not header.startswith("data:"):
        raise OutputInvalid("output is not a valid data: URI")
    try:
        if header.endswith(";base64"):
            return base64.b64decode(payload, validate=True)
        return urllib.parse.unquote_to_bytes(payload)
    except binascii.Error:
        raise OutputInvalid("output data: URI is not valid base64") from None


async def fetch_output(api: ReplicateApi, url: str, model: str, max_bytes: int) -> bytes:
    if url.startswith("data:"):
        data = decode_data_uri(url)
    else:
        try:
            data = await api.download(url, model, max_bytes)
        except ProviderRejected as exc:
            if exc.status not in (403, 404, 410):
                raise
            # Outputs are deleted an hour after the prediction: make it again.
            raise OutputInvalid(f"{model}'s output is no longer available ({exc.status})") from None
    if not data:
        raise OutputInvalid(f"{model} returned an empty file")
    return data


def image_to_jpeg(data: bytes, size: tuple[int, int], quality: int = 90) -> bytes:
    """The image scaled to cover `size` and centre-cropped, as a JPEG."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            picture = ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise OutputInvalid(f"the image model's output is not a readable image: {exc}") from None
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def image_data_uri(jpeg: bytes, max_bytes: int = DATA_URI_MAX_BYTES) -> str:
    """A JPEG as a `data:` URI small enough to send inline (re-encoded smaller if need
    be: video models work at 480p-1080p, so a smaller first frame loses nothing)."""
    data = jpeg
    with Image.open(io.BytesIO(jpeg)) as image:
        picture = image.convert("RGB")
    quality, scale = 88, 1.0
    while len(data) > max_bytes and quality >= 40:
        resized = picture
        if scale < 1.0:
            size = (max(16, int(picture.width * scale)), max(16, int(picture.height * scale)))
            resized = picture.resize(size, Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        resized.save(buffer, "JPEG", quality=quality)
        data = buffer.getvalue()
        quality, scale = quality - 8, scale * 0.85
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class MediaFacts:
    duration_s: float
    width: int = 0
    height: int = 0
    frames: int = 0


def check_video(
    path: Path, expected_s: float | None, aspect: str | None, label: str = "clip"
) -> MediaFacts:
    """Decode every frame of the clip; its length must be within a frame-ish tolerance of
    `expected_s`, its orientation and rough aspect that of `aspect` (e.g. "9:16")."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise OutputInvalid(f"{label}: the file has no video stream")
            stream = container.streams.video[0]
            frames, last_time = 0, 0.0
            for frame in container.decode(stream):
                frames += 1
                if frame.time is not None:
                    last_time = max(last_time, float(frame.time))
                width, height = frame.width, frame.height
            rate = float(stream.average_rate or stream.guessed_rate or 25)
    except av.FFmpegError as exc:
        raise OutputInvalid(f"{label}: the video does not decode: {exc}") from None
    if frames == 0:
        raise OutputInvalid(f"{label}: the video has no frames")
    duration = max(last_time + 1 / rate, frames / rate)
    if expected_s is not None and abs(duration - expected_s) > 0.25 + 0.1 * expected_s:
        raise OutputInvalid(
            f"{label}: the video lasts {duration:.2f} s, expected about {expected_s:.2f} s"
        )
    if min(width, height) < 16:
        raise OutputInvalid(f"{label}: the video is too small ({width}x{height})")
    if aspect:
        aw, ah = (float(v) for v in aspect.split(":"))
        if abs((width / height) / (aw / ah) - 1) > 0.15:
            raise OutputInvalid(f"{label}: the video is {width}x{height}, not {aspect}")
    return MediaFacts(duration_s=round(duration, 3), width=width, height=height, frames=frames)


def check_audio(path: Path, label: str = "voice") -> MediaFacts:
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise OutputInvalid(f"{label}: the file has no audio stream")
            stream = container.streams.audio[0]
            samples, rate = 0, stream.rate or 0
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate or rate
    except av.FFmpegError as exc:
        raise OutputInvalid(f"{label}: the audio does not decode: {exc}") from None
    if samples == 0 or not rate:
        raise OutputInvalid(f"{label}: the audio is empty")
    return MediaFacts(duration_s=round(samples / rate, 3))


def last_frame_jpeg(path: Path, quality: int = 90) -> bytes:
    """The last picture of a clip, for the next clip to start from (chained clips)."""
    last = None
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            last = frame
    if last is None:
        raise OutputInvalid(f"{path.name} has no frames to continue from")
    out = io.BytesIO()
    last.to_image().save(out, "JPEG", quality=quality)  # type: ignore[no-untyped-call]
    return out.getvalue()


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary name beside `path`, then rename: no half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
