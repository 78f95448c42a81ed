"""Reading a rendered ad back the way a viewer does: decoded frames, OCR of what is on
screen, whether the product is in view, how loud the sound is, and whether every text box
is inside the platform's safe zone and legible against what is actually behind it.

These helpers measure pixels and samples only; they never import the engine, so a test built
on them checks the result, not the plan. Text boxes are measured the way the renderer's QC
measures them (`services/renderer/qc/text.py`, pixels and numbers only). OCR is tesseract
(Debian's `tesseract-ocr`), run as a subprocess.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyloudnorm
from PIL import Image, ImageOps
from scipy import ndimage
from scipy.signal import resample_poly

from services.renderer.qc.text import Box as Box
from services.renderer.qc.text import BoxContrast as BoxContrast
from services.renderer.qc.text import (
    clamped_box,
    contrast_problem,
    crop_contrast,
    layout_problems,
)
from services.renderer.qc.text import contrast_ratio as contrast_ratio

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class VideoFacts:
    width: int
    height: int
    fps: float
    duration_s: float


def video_facts(path: Path) -> VideoFacts:
    """Size, frame rate and duration of a video file's first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = (
            float(container.duration) / av.time_base
            if container.duration is not None
            else float(stream.duration * stream.time_base)  # type: ignore[operator]
        )
        return VideoFacts(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=float(stream.average_rate or 30),
            duration_s=duration,
        )


def _picture(frame: av.VideoFrame) -> Image.Image:
    return Image.fromarray(frame.to_ndarray(format="rgb24"))


def frames_at(path: Path, times: Sequence[float]) -> list[Image.Image]:
    """The RGB picture on screen at each time (seconds), in the order asked; one decoding
    pass however many times are asked. A time past the end gives the last frame."""
    wanted = sorted(set(times))
    picked: dict[float, Image.Image] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        half_frame = 0.5 / float(stream.average_rate or 30)
        last: av.VideoFrame | None = None
        for frame in container.decode(stream):
            time = frame.time or 0.0
            while wanted and time >= wanted[0] - half_frame:
                picked[wanted.pop(0)] = _picture(frame)
            last = frame
            if not wanted:
                break
        if wanted:
            assert last is not None, f"{path} has no video frames"
            final = _picture(last)
            picked.update({time: final for time in wanted})
    return [picked[time] for time in times]


def sample_times(start_s: float, end_s: float, every_s: float) -> list[float]:
    """Times from `start_s` (inclusive) to `end_s` (exclusive), `every_s` apart."""
    count = max(0, int(np.ceil((end_s - start_s) / every_s - 1e-9)))
    return [round(start_s + i * every_s, 6) for i in range(count)]


# --- OCR ---------------------------------------------------------------------------------


def _tesseract() -> str:
    found = shutil.which("tesseract")
    assert found, "tesseract is not installed (Debian: tesseract-ocr; `make test-tools`)"
    return found


def _run_tesseract(image: Image.Image, psm: int) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    result = subprocess.run(
        # Tiled (adaptive) Otsu: text of a second colour survives binarisation even when
        # a brighter line elsewhere in the picture would set one global threshold.
        [_tesseract(), "stdin", "-", "--psm", str(psm), "-c", "thresholding_method=1"],
        input=buffer.getvalue(),
        capture_output=True,
        check=True,
        timeout=60,
        # One thread each: tests run several readings on a shared, small machine.
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
    )
    return result.stdout.decode("utf-8", "replace")


# Near-white ink: every channel at least this; near-black ink: every channel at most this
# (room for compression and a look's grading).
WHITE_INK_MIN, DARK_INK_MAX = 190, 80
# An area of ink colour this wide (share of the picture's short side) is a surface, not a
# stroke: bold type's strokes at a readable size are about 1.5%.
SOLID_SHARE = 0.03


def _ink_mask(image: Image.Image, size: tuple[int, int], white: bool) -> Image.Image:
    """Black where the picture has near-white (`white`) or near-black strokes, white
    elsewhere: a binarisation by colour, which no backdrop's brightness moves (tesseract's
    own thresholds lose white words on a saturated card beside a lighter field). Solid
    areas of the colour wider than a stroke (a white card, a navy field) are not ink."""
    pixels = np.asarray(image.convert("RGB"))
    ink = pixels.min(axis=2) >= WHITE_INK_MIN if white else pixels.max(axis=2) <= DARK_INK_MAX
    width = max(9, round(min(image.size) * SOLID_SHARE))
    solid = ndimage.maximum_filter(ndimage.minimum_filter(ink, width), width + 4)
    mask = Image.fromarray(np.where(ink & ~solid, 0, 255).astype(np.uint8))
    return mask if mask.size == size else mask.resize(size, Image.Resampling.LANCZOS)


# How `ocr` prepares a picture for tesseract (each way is one tesseract run), given the
# grayscale picture at the reading scale and the original.
OCR_WAYS: dict[str, Callable[[Image.Image, Image.Image], Image.Image]] = {
    "whites": lambda gray, image: _ink_mask(image, gray.size, white=True),
    "darks": lambda gray, image: _ink_mask(image, gray.size, white=False),
    # Coloured ink: luminance, light on dark made dark on light (tesseract thresholds it).
    "inverted": lambda gray, _: ImageOps.invert(gray),
    "plain": lambda gray, _: gray,
}


def ocr(
    image: Image.Image,
    box: Box | None = None,
    scale: int | None = None,
    psm: int = 11,
    ways: Sequence[str] = ("whites", "darks", "inverted"),
) -> str:
    """The text tesseract reads in `image` (or its `box`), each of `ways` (see
    `OCR_WAYS`) joined: an ad's frames mix white, dark and coloured ink on colour
    fields, photos and cards, which no single grayscale picture reads. `scale`:
    upscaling; by default 2x for pictures under 500 px on their short side, none for
    bigger ones (at 540x960 upscaling read no more words, at twice the time).
    psm 11: sparse text, the way words are scattered over an ad's frame."""
    if box is not None:
        image = image.crop(tuple(round(v) for v in box))  # type: ignore[arg-type]
    if scale is None:
        scale = 2 if min(image.size) < 500 else 1
    gray = ImageOps.grayscale(image)
    if scale != 1:
        gray = gray.resize((gray.width * scale, gray.height * scale), Image.Resampling.LANCZOS)
    variants = [OCR_WAYS[way](gray, image) for way in ways]
    with ThreadPoolExecutor(len(variants)) as pool:
        readings = list(pool.map(lambda variant: _run_tesseract(variant, psm), variants))
    return "\n".join(readings)


def words(text: str) -> list[str]:
    """Lowercase words of `text`, punctuation (hyphens, %, quotes ...) as separators."""
    return re.findall(r"[^\W_]+", text.lower())


def _word_seen(word: str, seen: set[str], joined: str, ratio: float) -> bool:
    if word in seen:
        return True
    if len(word) >= 3 and any(
        difflib.SequenceMatcher(None, word, other).ratio() >= ratio for other in seen
    ):
        return True
    # OCR often glues neighbouring words ("brightensskin").
    return len(word) >= 4 and word in joined


def words_found(expected: str, text: str, ratio: float = 0.75) -> float:
    """The share of `expected`'s words present in `text`, fuzzily: a word counts when read
    exactly, read with a letter or so wrong (difflib ratio >= `ratio`, words of 3+ letters:
    "skln" for "skin" is 0.75, "fori" for "for" 0.86; shorter words must be exact),
    or glued to a neighbour. 1.0 when `expected` has no words."""
    wanted = words(expected)
    if not wanted:
        return 1.0
    read = words(text)
    seen, joined = set(read), "".join(read)
    found = 0
    for index, word in enumerate(wanted):
        if _word_seen(word, seen, joined, ratio):
            found += 1
            continue
        # A short word glued to its neighbour ("Ordera" for "Order a") is read too.
        before = wanted[index - 1] + word if index else ""
        after = word + wanted[index + 1] if index + 1 < len(wanted) else ""
        if any(pair and pair in joined for pair in (before, after)):
            found += 1
    return found / len(wanted)


# --- Sound -------------------------------------------------------------------------------


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    """The first audio stream as float samples shaped (samples, channels), and its rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=rate)
        chunks: list[np.ndarray] = []
        for frame in container.decode(stream):
            for converted in resampler.resample(frame):
                chunks.append(converted.to_ndarray())
        for converted in resampler.resample(None):
            chunks.append(converted.to_ndarray())
    assert chunks, f"{path} has no audio samples"
    return np.concatenate(chunks, axis=1).T.astype(np.float64), rate


def true_peak_dbtp(samples: np.ndarray, rate: int) -> float:
    """True peak per ITU-R BS.1770-4 Annex 2: the largest absolute value after oversampling
    to at least 192 kHz (4x at 48 kHz), in dB relative to full scale."""
    factor = max(1, int(np.ceil(192_000 / rate)))
    oversampled = resample_poly(samples, factor, 1, axis=0) if factor > 1 else samples
    peak = float(np.max(np.abs(oversampled))) if oversampled.size else 0.0
    return 20 * float(np.log10(peak)) if peak > 0 else float("-inf")


def loudness(path: Path) -> tuple[float, float]:
    """(integrated loudness in LUFS per BS.1770, true peak in dBTP) of a file's audio."""
    samples, rate = decode_audio(path)
    lufs = float(pyloudnorm.Meter(rate).integrated_loudness(samples))
    return lufs, true_peak_dbtp(samples, rate)


# --- Product in view ---------------------------------------------------------------------


def colour_share(image: Image.Image, rgb: RGB, distance: float = 60.0) -> float:
    """The share of the picture's pixels within `distance` (RGB, Euclidean) of `rgb`."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    near = np.linalg.norm(pixels - np.asarray(rgb, dtype=np.float32), axis=-1) <= distance
    return float(near.mean())


def product_fraction(
    path: Path,
    rgb: RGB,
    every_s: float = 0.5,
    min_share: float = 0.004,
    distance: float = 60.0,
) -> float:
    """The share of frames sampled every `every_s` seconds that show the product, found by
    its colour: a frame shows it when at least `min_share` of its pixels are within
    `distance` of `rgb`. Pick `min_share` well under the product's expected on-screen
    share (it may be scaled down, partly covered by text, or cut out with a shadow)."""
    facts = video_facts(path)
    times = sample_times(every_s / 2, facts.duration_s, every_s)
    assert times, f"{path} is too short to sample"
    shown = [colour_share(frame, rgb, distance) >= min_share for frame in frames_at(path, times)]
    return sum(shown) / len(shown)


# --- Legibility --------------------------------------------------------------------------


def box_contrast(image: Image.Image, box: Box, ink: Sequence[float]) -> BoxContrast:
    """Contrast of a text box as rendered (`qc.text.crop_contrast`): its ink is the mean of
    the 10% of pixels nearest the declared ink colour, its background the median of the
    pixels far from the ink (> 100 RGB). Ratio 1.0 with no background."""
    x0, y0, x1, y1 = (round(v) for v in box)
    pixels = np.asarray(image.convert("RGB").crop((x0, y0, x1, y1)))
    assert pixels.size, f"empty box {box}"
    return crop_contrast(pixels, ink)


def check_layout(path: Path, layout: Mapping[str, Any]) -> list[str]:
    """Problems of a rendered video against its layout (`layout.json` of the renderer):
    the size differs from the video's; a box other than the product's is not inside the
    layout's safe zone; a text box has no text, no window inside the video, or contrast
    under 4.5:1 against the pixels behind it in the middle of the window it is shown in.
    An empty list: every box is safe and legible."""
    facts = video_facts(path)
    size = (facts.width, facts.height)
    problems, readings = layout_problems(layout, size, facts.duration_s, layout["safe_zone"])
    messages = [problem.message for problem in problems]
    frames = frames_at(path, [time for _, time in readings]) if readings else []
    for (entry, time), frame in zip(readings, frames, strict=True):
        x0, y0, x1, y1 = clamped_box(entry, size)
        problem = contrast_problem(entry, time, np.asarray(frame.convert("RGB"))[y0:y1, x0:x1])
        if problem is not None:
            messages.append(problem.message)
    return messages


# --- Captions against the voice ----------------------------------------------------------

_VTT_TIMING = re.compile(r"^(\S+)\s+-->\s+(\S+)")
_VTT_TAG = re.compile(r"<(\d+:\d{2}:\d{2}\.\d{3}|\d{2}:\d{2}\.\d{3})>")


def vtt_seconds(stamp: str) -> float:
    """Seconds of a WebVTT timestamp (`hh:mm:ss.ttt` or `mm:ss.ttt`)."""
    parts = [float(p) for p in stamp.split(":")]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


@dataclass(frozen=True)
class CueWord:
    """A word of a WebVTT cue and the time it is said: its inline timestamp tag, the cue's
    start for the first word; `timed` is False for a later word without a tag of its own
    (it then carries the time of the tag before it)."""

    word: str
    start_s: float
    timed: bool


def vtt_words(text: str) -> list[CueWord]:
    """Every word of every cue of a WebVTT file, in order, with its start time (karaoke
    tags `<00:00:01.200>word`; other tags such as `<c>` are dropped)."""
    out: list[CueWord] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = block.strip().splitlines()
        timing = next((i for i, line in enumerate(lines) if _VTT_TIMING.match(line)), None)
        if timing is None:
            continue
        match = _VTT_TIMING.match(lines[timing])
        assert match is not None
        at = vtt_seconds(match.group(1))
        payload = " ".join(lines[timing + 1 :])
        first = True
        for piece in re.split(r"(<[^>]*>)", payload):
            if tag := _VTT_TAG.fullmatch(piece):
                at, first = vtt_seconds(tag.group(1)), True
                continue
            if piece.startswith("<"):
                continue
            for word in piece.split():
                out.append(CueWord(word, at, first))
                first = False
    return out


def voice_onsets(
    samples: np.ndarray,
    rate: int,
    hop_s: float = 0.01,
    below_db: float = 30.0,
    min_gap_s: float = 0.04,
) -> list[float]:
    """Times (seconds) where speech starts after a silence: the start of each 10 ms hop
    whose RMS level rises above (speech level - `below_db`) after at least `min_gap_s`
    under it (the speech level is the 95th percentile of the hops' levels). `samples`:
    (n,) or (n, channels), as `decode_audio` gives them."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    hop = max(1, round(hop_s * rate))
    count = -(-mono.size // hop)
    padded = np.pad(mono.astype(np.float64) ** 2, (0, count * hop - mono.size))
    level = 10 * np.log10(np.maximum(padded.reshape(count, hop).mean(axis=1), 1e-12))
    loud = level > float(np.percentile(level, 95)) - below_db
    gap = max(1, round(min_gap_s / hop_s))
    onsets, quiet = [], gap  # the file's start counts as silence
    for index, voiced in enumerate(loud):
        if voiced and quiet >= gap:
            onsets.append(index * hop_s)
        quiet = 0 if voiced else quiet + 1
    return onsets


def nearest_gap(time: float, times: Sequence[float]) -> float:
    """How far `time` is from the nearest of `times` (infinity when there are none)."""
    return min((abs(time - other) for other in times), default=float("inf"))
