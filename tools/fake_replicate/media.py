"""Real media, made on the fly and deterministically from (prompt, seed): frames with Pillow,
H.264 clips and AAC/MP3/WAV audio with PyAV. Everything here is synchronous and CPU-bound;
the server runs it in worker threads."""

from __future__ import annotations

import hashlib
import io
import math
import random
import textwrap
import wave
from fractions import Fraction
from typing import Any, cast

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

CONTENT_TYPES = {
    "webp": "image/webp",
    "jpg": "image/jpeg",
    "png": "image/png",
    "mp4": "video/mp4",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
}
PIL_FORMATS = {"webp": "WEBP", "jpg": "JPEG", "png": "PNG"}


def _even(value: float) -> int:
    return max(16, round(value / 2) * 2)


def _ratio(aspect: str) -> float:
    width, _, height = aspect.partition(":")
    return float(width) / float(height)


# Flux's output sizes at 1 megapixel; 0.25 MP halves both sides.
FLUX_SIZES = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "3:4": (896, 1152),
    "4:3": (1152, 896),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}


def image_size(aspect: str, megapixels: float, divisor: int) -> tuple[int, int]:
    """Flux's size for the aspect ratio, scaled to `megapixels`, then divided."""
    width, height = FLUX_SIZES[aspect]
    scale = math.sqrt(megapixels)
    return _even(width * scale / divisor), _even(height * scale / divisor)


def video_size(height: int, long_side: int, aspect: str, divisor: int) -> tuple[int, int]:
    """(width, height) of a `height`p clip: landscape, portrait or square."""
    if aspect == "1:1":
        return _even(height / divisor), _even(height / divisor)
    if _ratio(aspect) < 1:
        return _even(height / divisor), _even(long_side / divisor)
    return _even(long_side / divisor), _even(height / divisor)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(30, 226), rng.randrange(30, 226), rng.randrange(30, 226))


def draw_image(prompt: str, seed: int, size: tuple[int, int]) -> Image.Image:
    """A picture that differs visibly per (prompt, seed): gradient, shapes, the prompt text."""
    rng = _rng(prompt, seed)
    width, height = size
    top, bottom = np.array(_colour(rng)), np.array(_colour(rng))
    mix = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    rows = (top * (1 - mix) + bottom * mix).astype(np.uint8)
    image = Image.fromarray(np.repeat(rows, width, axis=1), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randrange(3, 7)):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.05, 0.25) * min(width, height)
        box = (x - radius, y - radius, x + radius, y + radius)
        if rng.random() < 0.5:
            draw.ellipse(box, fill=_colour(rng))
        else:
            draw.rectangle(box, fill=_colour(rng))
    font_size = max(8, height // 28)
    font = ImageFont.load_default(size=font_size)
    lines = textwrap.wrap(prompt, width=max(10, int(width / (font_size * 0.55))))[:6]
    y = height - (len(lines) + 1) * font_size * 1.25
    for line in lines:
        draw.text(
            (font_size, y),
            line,
            fill=(255, 255, 255),
            font=font,
            stroke_width=1,
            stroke_fill=(0, 0, 0),
        )
        y += font_size * 1.25
    return image


def encode_image(image: Image.Image, fmt: str, quality: int = 80) -> bytes:
    buffer = io.BytesIO()
    options = {} if fmt == "png" else {"quality": max(1, quality)}
    image.save(buffer, PIL_FORMATS[fmt], **options)
    return buffer.getvalue()


def open_image(data: bytes) -> Image.Image:
    """An input image as RGB; ValueError if the bytes are not an image Pillow reads."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as e:  # Pillow raises many types for undecodable input
        raise ValueError(f"cannot identify image file: {e}") from e
    return ImageOps.exif_transpose(image).convert("RGB")


def _tone_bed(seconds: float, rate: int, channels: int, seed: int) -> np.ndarray:
    """A soft chord progression, (channels, samples) float32 in [-1, 1]."""
    rng = _rng("music", seed)
    roots = [rng.choice((196.0, 220.0, 246.9, 261.6, 293.7)) for _ in range(4)]
    count = round(seconds * rate)
    t = np.arange(count, dtype=np.float32) / rate
    bar = np.minimum((t / 2.0).astype(np.int64) % 4, 3)
    root = np.array(roots, dtype=np.float32)[bar]
    signal = np.zeros(count, dtype=np.float32)
    for ratio, gain in ((1.0, 0.5), (1.25, 0.3), (1.5, 0.3), (2.0, 0.15)):
        signal += gain * np.sin(2 * np.pi * root * ratio * t)
    pulse = 0.6 + 0.4 * np.cos(2 * np.pi * t * 2.0) ** 2
    signal *= 0.25 * pulse
    return np.tile(signal, (channels, 1)).astype(np.float32)


def _speech(text: str, rate: int, speed: float, pitch: int, voice: str) -> np.ndarray:
    """Syllable-like tones, one segment per character at ~15 characters a second."""
    base = 110.0 + (int(hashlib.sha256(voice.encode()).hexdigest()[:4], 16) % 110)
    base *= 2 ** (pitch / 12)
    segment = int(rate / (15.0 * speed))
    t = np.arange(segment, dtype=np.float32) / rate
    envelope = np.sin(np.pi * np.arange(segment) / segment).astype(np.float32)
    noise = np.random.default_rng(len(text)).uniform(-1, 1, segment).astype(np.float32)
    pieces = []
    for char in text:
        lower = char.lower()
        if lower in "aeiouy":
            f0 = base * (1 + 0.1 * ((ord(lower) % 5) - 2) / 2)
            voiced = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3))
            pieces.append(0.5 * envelope * voiced)
        elif char.isalnum():
            pieces.append(0.12 * envelope * noise)
        else:
            pieces.append(np.zeros(segment, dtype=np.float32))
    return np.concatenate(pieces or [np.zeros(segment, dtype=np.float32)])[None, :]


def _audio_frames(samples: np.ndarray, rate: int, frame_size: int) -> list[av.AudioFrame]:
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    frames = []
    for start in range(0, samples.shape[1], frame_size):
        chunk = np.ascontiguousarray(samples[:, start : start + frame_size], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        frames.append(frame)
    return frames


def _wav(samples: np.ndarray, rate: int) -> bytes:
    pcm = (np.clip(samples.T, -1, 1) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(samples.shape[0])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def _mp3(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as container:
        layout = "mono" if samples.shape[0] == 1 else "stereo"
        stream = container.add_stream("libmp3lame", rate=rate, layout=layout)
        for frame in _audio_frames(samples, rate, 1152):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def encode_audio(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    return _wav(samples, rate) if fmt == "wav" else _mp3(samples, rate)


def speech(
    text: str, voice: str, speed: float, pitch: int, rate: int, channels: int, fmt: str
) -> bytes:
    samples = _speech(text, rate, speed, pitch, voice)
    return encode_audio(np.repeat(samples, channels, axis=0), rate, fmt)


def music(seconds: float, seed: int, fmt: str) -> bytes:
    return encode_audio(_tone_bed(seconds, 32000, 2, seed), 32000, fmt)


def _cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return ImageOps.fit(image, size, Image.Resampling.BILINEAR)


def clip(
    start: Image.Image,
    end: Image.Image | None,
    size: tuple[int, int],
    fps: int,
    frame_count: int,
    seed: int,
    with_audio: bool = False,
) -> bytes:
    """An H.264 yuv420p MP4 that opens on `start` and slowly zooms and pans across it,
    dissolving into `end` over the last third when given."""
    rng = _rng("motion", seed)
    zoom_to = rng.uniform(1.08, 1.2)
    pan_x, pan_y = rng.uniform(-1, 1), rng.uniform(-1, 1)
    width, height = size
    base = _cover(start, size)
    last = _cover(end, size) if end is not None else None
    # Bilinear costs ~25 ms a 1080p frame; a zoom of at most 1.2x looks fine without it.
    small = width * height <= 1_000_000
    resample = Image.Resampling.BILINEAR if small else Image.Resampling.NEAREST
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "28"}
        audio = container.add_stream("aac", rate=48000, layout="stereo") if with_audio else None
        for index in range(frame_count):
            progress = index / max(1, frame_count - 1)
            scale = 1 + (zoom_to - 1) * progress
            crop_w, crop_h = width / scale, height / scale
            left = (width - crop_w) / 2 * (1 + pan_x * progress)
            top = (height - crop_h) / 2 * (1 + pan_y * progress)
            box = (left, top, left + crop_w, top + crop_h)
            frame_image = base.resize(size, resample, box=box)
            if last is not None and progress > 2 / 3:
                frame_image = Image.blend(frame_image, last, (progress - 2 / 3) * 3)
            frame: av.VideoFrame = cast(Any, av.VideoFrame).from_image(frame_image)  # untyped stub
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            bed = _tone_bed(frame_count / fps, 48000, 2, seed)
            for audio_frame in _audio_frames(bed, 48000, 1024):
                container.mux(audio.encode(audio_frame))
            container.mux(audio.encode(None))
    return buffer.getvalue()
