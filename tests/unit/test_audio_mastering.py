"""Soundtrack mastering: -14 LUFS integrated and true peak under -1 dBTP, on the mastered
track and on the AAC decoded from the final MP4 (services/renderer/engine/audio.py,
loudness.py, compose.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pytest
from PIL import Image

from services.renderer.engine import RenderSpec, SceneInput, compose, render_clip
from services.renderer.engine.audio import build_soundtrack
from services.renderer.engine.loudness import limit_true_peak, true_peak_dbtp
from tools.fake_replicate.media import _speech, encode_audio, music

RATE = 48_000


def _lufs(samples: np.ndarray) -> float:
    return float(pyloudnorm.Meter(RATE).integrated_loudness(samples.T.astype(np.float64)))


def _spec(folder: Path, durations: tuple[float, ...], **changes: object) -> RenderSpec:
    scenes = []
    for index, duration in enumerate(durations, 1):
        frame = folder / f"scene_{index}.jpg"
        Image.new("RGB", (96, 160), (30 * index, 90, 140)).save(frame)
        scenes.append(SceneInput(index, frame, duration, f"Scene {index}", "hook"))
    spec = RenderSpec(size=(96, 160), scenes=tuple(scenes), seed="job-master")
    return replace(spec, **changes)  # type: ignore[arg-type]


def _voice(path: Path, seconds: float) -> Path:
    """A synthetic voice-over: the fake Replicate speech of a sentence, repeated with
    pauses until it lasts about `seconds`."""
    rate = 24_000
    sentence = _speech("Meet the Lumen lamp, light that follows you.", rate, 1.0, 0, "v")
    pause = np.zeros((1, rate // 2), dtype=np.float32)
    pieces = [sentence, pause] * max(1, round(seconds / (sentence.shape[1] / rate + 0.5)))
    path.write_bytes(encode_audio(np.concatenate(pieces, axis=1), rate, "wav"))
    return path


def _decoded(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        chunks = [o.to_ndarray() for f in container.decode(audio=0) for o in resampler.resample(f)]
    return np.concatenate(chunks, axis=1)


def _check_master(track: np.ndarray) -> None:
    # -14 LUFS (+-0.5) by pyloudnorm, true peak at most -1.5 dBTP before encoding.
    assert _lufs(track) == pytest.approx(-14.0, abs=0.5)
    assert true_peak_dbtp(track) <= -1.5


@pytest.mark.parametrize("variation", [1, 2, 3, 4, 5])
def test_synthesized_bed_is_mastered(tmp_path: Path, variation: int) -> None:
    # 30 s of each arrangement, no voice.
    spec = _spec(tmp_path, (12.0, 18.0), variation=variation)
    track = build_soundtrack(spec, 30.0)
    assert track.shape == (2, 30 * RATE) and track.dtype == np.float32
    _check_master(track)


def test_voiceover_mix_is_mastered(tmp_path: Path) -> None:
    # 30 s of music with a synthetic voice for the first ~20 s.
    spec = _spec(tmp_path, (12.0, 18.0), variation=2)
    spec = replace(spec, voiceover_path=_voice(tmp_path / "voice.wav", 20.0))
    _check_master(build_soundtrack(spec, 30.0))


def test_uploaded_music_is_looped_and_mastered(tmp_path: Path) -> None:
    # An 11 s uploaded mp3, looped to 30 s.
    path = tmp_path / "music.mp3"
    path.write_bytes(music(11.0, 5, "mp3"))
    spec = replace(_spec(tmp_path, (12.0, 18.0)), music_path=path)
    track = build_soundtrack(spec, 30.0)
    _check_master(track)
    # Still playing after the first pass ended (looped, not padded with silence).
    late = track[:, 20 * RATE : 21 * RATE]
    assert float(np.sqrt((late**2).mean())) > 0.02


def test_limiter_holds_true_peak_without_clipping() -> None:
    # A tone near fs/4 (inter-sample peaks above the sample peaks) at -6 dBTP, with a
    # 50 ms burst 9 dB hotter at 1 s; the right channel at half the level.
    t = np.arange(3 * RATE) / RATE
    tone = 0.5 * np.sin(2 * np.pi * 11_025 * t + 0.7)
    tone[RATE : RATE + 2400] *= 2.8
    stereo = np.stack([tone, 0.5 * tone]).astype(np.float32)
    assert true_peak_dbtp(stereo) > 2.0
    limited = limit_true_peak(stereo, -2.0)
    # The true peak is held at the ceiling by gain, not clipping: both channels get the
    # same gain (the stereo image is kept) and the parts away from the burst are untouched.
    assert true_peak_dbtp(limited) <= -2.0 + 0.01
    loud = np.abs(limited[0]) > 1e-3
    assert np.allclose(limited[1][loud] / limited[0][loud], 0.5, atol=1e-4)
    assert np.allclose(limited[:, 2 * RATE :], stereo[:, 2 * RATE :], rtol=1e-4, atol=0)
    assert np.array_equal(limited[:, : RATE // 2], stereo[:, : RATE // 2])


def _render(spec: RenderSpec, folder: Path) -> tuple[Path, float | None, float | None]:
    clips = [folder / f"clip_{n}.mp4" for n in range(1, len(spec.scenes) + 1)]
    for n, clip in enumerate(clips, 1):
        render_clip(spec, n, clip)
    out = folder / "final.mp4"
    info = compose(spec, clips, out)
    return out, info.loudness_lufs, info.true_peak_dbtp


@pytest.mark.parametrize("with_voice", [False, True])
def test_composed_video_audio_is_mastered(tmp_path: Path, with_voice: bool) -> None:
    # Two tiny clips (96x160, 1.5 s + 2.5 s) composed with the synthesized bed (variation
    # 3, the densest), with and without a voice-over.
    spec = _spec(tmp_path, (1.5, 2.5), variation=3)
    if with_voice:
        spec = replace(spec, voiceover_path=_voice(tmp_path / "voice.wav", 3.0))
    out, lufs, peak = _render(spec, tmp_path)
    decoded = _decoded(out)
    # The AAC decoded from the mp4: -14 +-1 LUFS and at most -1 dBTP.
    assert _lufs(decoded) == pytest.approx(-14.0, abs=1.0)
    assert true_peak_dbtp(decoded) <= -1.0
    # compose reports what it measured on that same decoded audio.
    assert lufs is not None and peak is not None
    assert lufs == pytest.approx(_lufs(decoded), abs=0.1)
    assert peak == pytest.approx(true_peak_dbtp(decoded), abs=0.1)
