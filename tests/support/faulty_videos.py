"""Short videos with one planted fault each, for QC's tests, made with PyAV the way the
engine makes its files: H.264 through the engine's own encoder settings (yuv420p, its
bitrate floor), AAC stereo mastered to -14 LUFS under -1 dBTP, `moov` first. A clean one
has a picture that keeps moving (a gradient and a square gliding over it) and a sound
that keeps playing; each fault changes one thing, at a known time.

Example::

    path = write_video(tmp_path / "black.mp4", Planted(black=(2.0, 3.0)))
    # 6 s at 360x640, black from 2.0 s to 3.0 s
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from services.renderer.engine.audio import PRE_ENCODE_CEILING_DBTP, TARGET_LUFS
from services.renderer.engine.encode import add_h264_stream
from services.renderer.engine.loudness import SAMPLE_RATE, master

SIZE = (360, 640)
FPS = 30
SECONDS = 6.0  # the platforms' shortest ad is 5 s
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
Span = tuple[float, float]


@dataclass(frozen=True)
class Text:
    """Words drawn on a panel at `box` from `span[0]` to `span[1]` seconds."""

    words: str
    box: tuple[int, int, int, int]
    span: Span
    ink: tuple[int, int, int] = (255, 255, 255)
    panel: tuple[int, int, int] = (20, 24, 40)


@dataclass(frozen=True)
class Planted:
    """What is wrong with a video (nothing, by default)."""

    black: Span | None = None  # the picture is black
    frozen: Span | None = None  # the picture stops (the same frame, encoded again)
    blank_start: bool = False  # the first frames are one flat colour
    sound: str = "music"  # "music", "silent" (a track of zeros), "none" (no track)
    lufs: float = TARGET_LUFS
    clipped: Span | None = None  # the sound is driven into full scale and clipped
    pixel_format: str = "yuv420p"
    faststart: bool = True
    low_bitrate: bool = False  # x264 at a high CRF without the engine's floor
    texts: tuple[Text, ...] = ()


def _gradient() -> np.ndarray:
    width, height = SIZE
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    xs = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    picture = np.empty((height, width, 3), dtype=np.float32)
    picture[..., 0] = 40 + 80 * ys + 0 * xs
    picture[..., 1] = 90 + 60 * xs
    picture[..., 2] = 150 - 40 * ys
    return picture.astype(np.uint8)


def _draw_texts(picture: np.ndarray, texts: tuple[Text, ...], time: float) -> np.ndarray:
    shown = [text for text in texts if text.span[0] <= time < text.span[1]]
    if not shown:
        return picture
    image = Image.fromarray(picture)
    draw = ImageDraw.Draw(image)
    for text in shown:
        x0, y0, _, y1 = text.box
        draw.rectangle(text.box, fill=text.panel)
        size = max(8, round((y1 - y0) * 0.55))
        font = ImageFont.truetype(BOLD, size)
        draw.text((x0 + 4, y0 + (y1 - y0 - size) // 2), text.words, font=font, fill=text.ink)
    return np.asarray(image)


def _pictures(planted: Planted, frames: int) -> list[np.ndarray]:
    base = _gradient()
    width, height = SIZE
    out = []
    held: np.ndarray | None = None
    for index in range(frames):
        time = index / FPS
        if planted.frozen and planted.frozen[0] <= time < planted.frozen[1] and held is not None:
            out.append(held)
            continue
        picture = base.copy()
        # A square that glides across, so the picture never stands still.
        x = int((width - 60) * (0.5 + 0.5 * np.sin(time * 1.7)))
        y = int((height - 60) * (0.5 + 0.5 * np.cos(time * 1.1)))
        picture[y : y + 60, x : x + 60] = (250, 170, 40)
        picture = _draw_texts(picture, planted.texts, time)
        if planted.black and planted.black[0] <= time < planted.black[1]:
            picture = np.zeros_like(picture)
        if planted.blank_start and index < 3:
            picture = np.full_like(picture, 200)
        held = picture
        out.append(picture)
    return out


@functools.cache
def _music(seconds: float, lufs: float) -> np.ndarray:
    """(2, n) float32: a chord with a pulse and a little noise, mastered to `lufs` (made
    once per length and level: mastering is the slow part)."""
    count = round(seconds * SAMPLE_RATE)
    t = np.arange(count, dtype=np.float64) / SAMPLE_RATE
    chord = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((220, 277, 330, 440)))
    pulse = 0.6 + 0.4 * np.sin(2 * np.pi * 2 * t) ** 2
    noise = np.random.default_rng(7).normal(0, 0.05, count)
    mono = (chord * pulse + noise) * 0.2
    stereo = np.stack([mono, np.roll(mono, 37)]).astype(np.float32)
    mastered: np.ndarray = master(stereo, lufs, PRE_ENCODE_CEILING_DBTP)
    mastered.flags.writeable = False
    return mastered


def _sound(planted: Planted, seconds: float) -> np.ndarray:
    music = _music(seconds, planted.lufs)
    if planted.sound == "silent":
        return np.zeros_like(music)
    if not planted.clipped:
        return music
    clipped = music.copy()
    start, end = (round(s * SAMPLE_RATE) for s in planted.clipped)
    clipped[:, start:end] = np.clip(clipped[:, start:end] * 12, -1.0, 1.0)
    return clipped


def write_video(path: Path, planted: Planted = Planted(), seconds: float = SECONDS) -> Path:
    """An MP4 of `seconds` at 360x640, 30 fps, with what `planted` says wrong in it."""
    frames = round(seconds * FPS)
    pictures = _pictures(planted, frames)
    samples = _sound(planted, seconds) if planted.sound != "none" else None
    options = {"movflags": "+faststart"} if planted.faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as container:
        video = add_h264_stream(container, SIZE, FPS, 23, "veryfast", 2)
        if planted.pixel_format != "yuv420p":
            video.pix_fmt = planted.pixel_format
        if planted.low_bitrate:
            video.codec_context.options = {"crf": "40", "preset": "veryfast"}
        audio = None
        if samples is not None:
            audio = container.add_stream("aac", rate=SAMPLE_RATE)
            audio.layout = "stereo"
            audio.bit_rate = 160_000
        written = 0
        for index, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
            if audio is not None and samples is not None:
                # The sound up to this frame's end, in AAC's 1024-sample frames.
                until = min(samples.shape[1], round((index + 1) / FPS * SAMPLE_RATE))
                while written + 1024 <= until or (until == samples.shape[1] and written < until):
                    chunk = np.ascontiguousarray(samples[:, written : written + 1024])
                    part = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                    part.sample_rate, part.pts = SAMPLE_RATE, written
                    part.time_base = Fraction(1, SAMPLE_RATE)
                    container.mux(audio.encode(part))
                    written += chunk.shape[1]
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))
    return path


def layout_for(*texts: Text, platform: str = "tiktok", seconds: float = SECONDS) -> dict[str, Any]:
    """A `layout.json` like the engine's for a video of one scene showing `texts`."""
    return {
        "size": list(SIZE),
        "fps": FPS,
        "platform": platform,
        "scenes": [{"index": 1, "beat": "hook", "start_s": 0.0, "end_s": seconds}],
        "boxes": [_box(text) for text in texts],
    }


def _box(text: Text) -> Mapping[str, Any]:
    return {
        "scene": 1,
        "kind": "caption",
        "text": text.words,
        "box": list(text.box),
        "from_s": text.span[0],
        "to_s": text.span[1],
        "ink": list(text.ink),
    }
