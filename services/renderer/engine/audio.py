"""The soundtrack: music (synthesized on the scene cuts' beat grid, or an uploaded file
trimmed/looped to length) with an optional voiceover on top (music ducked under it),
mastered to -14 LUFS integrated with the true peak under -1 dBTP, encoded to 48 kHz
stereo AAC.

AAC adds its own overshoot (the codec's band-limiting rebuilds peaks a little higher), so
the track is mastered to -2 dBTP, encoded, decoded back and measured; the measured figures
are what the video reports, and a track that missed is corrected and encoded again.

The track is held in memory as float32: 60 s of stereo is 23 MB, which keeps loudness
measurement and ducking simple; video frames, which would grow with length, never are.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from services.renderer.engine.beats import grid_for_spec
from services.renderer.engine.loudness import (
    SAMPLE_RATE,
    integrated_loudness,
    master,
    normalize,
    true_peak_dbtp,
)
from services.renderer.engine.music import music_plan, synthesize
from services.renderer.engine.spec import RenderSpec

TARGET_LUFS = -14.0
MAX_TRUE_PEAK_DBTP = -1.0  # on the decoded AAC, as a player will reproduce it
PRE_ENCODE_CEILING_DBTP = -2.0  # headroom for the codec's overshoot
LOUDNESS_TOLERANCE_LU = 0.5
MAX_CORRECTIONS = 2
AAC_BITRATE = 160_000
_DUCK_DB = -12.0
_LOOP_CROSSFADE_S = 0.5
_FADE_IN_S = 0.15
_FADE_OUT_S = 1.5


def load_audio(path: Path, max_seconds: float) -> np.ndarray:
    """Up to `max_seconds` of any audio file PyAV reads, as (2, n) float32 at 48 kHz."""
    wanted = round(max_seconds * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    have = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ValueError(f"{path.name} has no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().astype(np.float32, copy=False))
                    have += chunks[-1].shape[1]
                if have >= wanted:
                    break
            else:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().astype(np.float32, copy=False))
    except av.FFmpegError as exc:
        raise ValueError(f"{path.name} is not a readable audio file: {exc}") from exc
    if not chunks:
        raise ValueError(f"{path.name} has no audio samples")
    samples = np.concatenate(chunks, axis=1)[:, :wanted]
    return np.ascontiguousarray(samples.reshape(2, -1))


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Trimmed, or looped with a short crossfade at each seam, to exactly `length`."""
    if samples.shape[1] >= length:
        return samples[:, :length].copy()
    fade = min(round(_LOOP_CROSSFADE_S * SAMPLE_RATE), samples.shape[1] // 4)
    out = np.zeros((2, length), dtype=np.float32)
    position = 0
    ramp = np.linspace(0, 1, fade, dtype=np.float32) if fade else None
    while position < length:
        piece = samples[:, : length - position].copy()
        if position and ramp is not None:
            # Fade the new pass in over the tail of the previous one.
            n = min(fade, piece.shape[1])
            piece[:, :n] *= ramp[:n]
            out[:, position : position + n] *= 1 - ramp[:n]
        out[:, position : position + piece.shape[1]] += piece
        step = samples.shape[1] - fade if fade else samples.shape[1]
        position += max(1, step)
    return out


def _fades(samples: np.ndarray) -> np.ndarray:
    length = samples.shape[1]
    fade_in = min(length // 4, round(_FADE_IN_S * SAMPLE_RATE))
    fade_out = min(length // 4, round(_FADE_OUT_S * SAMPLE_RATE))
    if fade_in:
        samples[:, :fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)
    if fade_out:
        ramp = np.cos(np.linspace(0, np.pi / 2, fade_out, dtype=np.float32))
        samples[:, length - fade_out :] *= ramp
    return samples


def voice_activity(voice: np.ndarray) -> np.ndarray:
    """0..1 per sample: how much the voice is speaking, with a fast attack (60 ms) and a
    slow release (400 ms) so the music does not pump between words."""
    hop = SAMPLE_RATE // 100
    mono = np.abs(voice).mean(axis=0)
    frames = -(-mono.size // hop)
    padded = np.pad(mono * mono, (0, frames * hop - mono.size))
    rms = np.sqrt(padded.reshape(frames, hop).mean(axis=1))
    threshold = max(rms.max() * 10 ** (-30 / 20), 1e-4)
    target = (rms > threshold).astype(np.float32)
    attack, release = 1 - np.exp(-1 / 6), 1 - np.exp(-1 / 40)
    level = np.empty_like(target)
    current = 0.0
    for i, value in enumerate(target):
        current += (value - current) * (attack if value > current else release)
        level[i] = current
    centres = np.arange(frames) * hop + hop / 2
    activity: np.ndarray = np.interp(np.arange(mono.size), centres, level).astype(np.float32)
    return activity


def build_soundtrack(spec: RenderSpec, duration_s: float) -> np.ndarray:
    """The final (2, n) float32 soundtrack for a video of `duration_s` seconds, mastered
    to `TARGET_LUFS` with its true peak at most `PRE_ENCODE_CEILING_DBTP`."""
    length = max(1, round(duration_s * SAMPLE_RATE))
    if spec.music_path is not None:
        music = fit_length(load_audio(spec.music_path, duration_s), length)
    else:
        # The grid's tempo, so the bed's beats fall on the cuts `beats.cut_frames` made.
        plan = music_plan(spec.seed, spec.variation, grid_for_spec(spec).tempo_bpm)
        music = synthesize(plan, duration_s, spec.seed)
    music = normalize(_fades(music), TARGET_LUFS)
    if spec.voiceover_path is not None:
        voice = load_audio(spec.voiceover_path, duration_s)
        voice = normalize(_fades(fit_voice(voice, length)), TARGET_LUFS)
        duck = 1 - (1 - 10 ** (_DUCK_DB / 20)) * voice_activity(voice)
        music = music * duck + voice
    return master(music.astype(np.float32), TARGET_LUFS, PRE_ENCODE_CEILING_DBTP)


def fit_voice(voice: np.ndarray, length: int) -> np.ndarray:
    """The voice from the start, cut or padded with silence to `length` (never looped)."""
    out = np.zeros((2, length), dtype=np.float32)
    n = min(length, voice.shape[1])
    out[:, :n] = voice[:, :n]
    return out


@dataclass(frozen=True)
class EncodedAudio:
    """An AAC track in an in-memory MP4 (stream-copied into the video by `compose`) and
    what its decoded audio measures."""

    data: bytes
    loudness_lufs: float
    true_peak_dbtp: float
    passes: int


def encode_aac(samples: np.ndarray) -> bytes:
    """A (2, n) float32 track as AAC (`AAC_BITRATE`) in an in-memory MP4."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
        stream.codec_context.bit_rate = AAC_BITRATE
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, samples.shape[1], frame_size):
            chunk = np.ascontiguousarray(samples[:, start : start + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def decode_audio(data: bytes) -> np.ndarray:
    """The first audio stream of an in-memory file as (2, n) float32 at 48 kHz."""
    with av.open(io.BytesIO(data), "r") as container:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
        chunks = [
            out.to_ndarray()
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
        chunks.extend(out.to_ndarray() for out in resampler.resample(None))
    if not chunks:
        return np.zeros((2, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False)


def encode_mastered(samples: np.ndarray) -> EncodedAudio:
    """Encode a mastered track, decode it back and measure it; if the decoded true peak
    is over `MAX_TRUE_PEAK_DBTP` or the loudness is off by more than 0.5 LU, correct
    (lower the ceiling by the codec's measured overshoot, move the gain by the loudness
    error) and encode again, at most `MAX_CORRECTIONS` times."""
    track = samples
    ceiling = PRE_ENCODE_CEILING_DBTP
    passes = 0
    while True:
        passes += 1
        data = encode_aac(track)
        decoded = decode_audio(data)
        loudness = integrated_loudness(decoded)
        peak = true_peak_dbtp(decoded)
        if not math.isfinite(loudness):  # silence: nothing to correct
            break
        error = TARGET_LUFS - loudness
        good = peak <= MAX_TRUE_PEAK_DBTP and abs(error) <= LOUDNESS_TOLERANCE_LU
        if good or passes > MAX_CORRECTIONS:
            break
        overshoot = max(0.0, peak - true_peak_dbtp(track))
        ceiling = min(ceiling, MAX_TRUE_PEAK_DBTP - overshoot - 0.2)
        track = master(track, integrated_loudness(track) + error, ceiling)
    return EncodedAudio(data=data, loudness_lufs=loudness, true_peak_dbtp=peak, passes=passes)
