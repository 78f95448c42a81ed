"""The soundtrack: music (synthesized, or an uploaded file trimmed/looped to length) with an
optional voiceover on top (music ducked under the voice), at -16 LUFS with peaks held
under -1 dBFS, encoded to 48 kHz stereo AAC.

The track is held in memory as float32: 60 s of stereo is 23 MB, which keeps loudness
measurement and ducking simple; video frames, which would grow with length, never are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np

from services.renderer.engine.loudness import SAMPLE_RATE, limit, normalize
from services.renderer.engine.music import music_plan, synthesize
from services.renderer.engine.spec import RenderSpec

TARGET_LUFS = -16.0
CEILING_DBFS = -1.0
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
    """The final (2, n) float32 soundtrack for a video of `duration_s` seconds."""
    length = max(1, round(duration_s * SAMPLE_RATE))
    if spec.music_path is not None:
        music = fit_length(load_audio(spec.music_path, duration_s), length)
    else:
        music = synthesize(music_plan(spec.seed, spec.variation), duration_s, spec.seed)
    music = normalize(_fades(music), TARGET_LUFS)
    if spec.voiceover_path is not None:
        voice = load_audio(spec.voiceover_path, duration_s)
        voice = normalize(_fades(fit_voice(voice, length)), TARGET_LUFS)
        duck = 1 - (1 - 10 ** (_DUCK_DB / 20)) * voice_activity(voice)
        music = music * duck + voice
        music = normalize(music, TARGET_LUFS)
    return limit(music.astype(np.float32), CEILING_DBFS)


def fit_voice(voice: np.ndarray, length: int) -> np.ndarray:
    """The voice from the start, cut or padded with silence to `length` (never looped)."""
    out = np.zeros((2, length), dtype=np.float32)
    n = min(length, voice.shape[1])
    out[:, :n] = voice[:, :n]
    return out


def encode_aac(samples: np.ndarray, stream: av.AudioStream) -> list[av.Packet[Any]]:
    """Encode a (2, n) float32 track with `stream`'s AAC encoder; the packets are kept
    (about 1 MB a minute) so the caller can interleave them with video."""
    packets: list[av.Packet[Any]] = []
    frame_size = stream.codec_context.frame_size or 1024
    for start in range(0, samples.shape[1], frame_size):
        chunk = np.ascontiguousarray(samples[:, start : start + frame_size])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        packets.extend(stream.encode(frame))
    packets.extend(stream.encode(None))
    return packets
