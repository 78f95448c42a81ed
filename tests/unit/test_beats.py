"""Scene cuts on the music's beat grid (services/renderer/engine/beats.py)."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import av
import numpy as np
import pytest

from services.renderer.engine.audio import build_soundtrack
from services.renderer.engine.beats import (
    BeatGrid,
    cut_frames,
    grid_for_cuts,
    grid_for_spec,
    track_beats,
)
from services.renderer.engine.music import TEMPO_RANGES, MusicPlan, music_plan, synthesize
from services.renderer.engine.spec import RenderSpec, SceneInput

RATE = 48_000


def _spec(durations: list[float], **changes: object) -> RenderSpec:
    scenes = tuple(
        SceneInput(i + 1, Path(f"scene_{i + 1}.jpg"), d, "caption", "hook")
        for i, d in enumerate(durations)
    )
    return RenderSpec(size=(96, 160), scenes=scenes, seed="job-beats", **changes)  # type: ignore[arg-type]


def _phase_error(grid: BeatGrid, tempo: float, offset: float = 0.0) -> float:
    period = 60.0 / tempo
    return abs((grid.offset_s - offset + period / 2) % period - period / 2)


def _write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    pcm = np.ascontiguousarray(np.clip(samples, -1, 1), dtype=np.float32)
    with av.open(str(path), "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="stereo")
        for start in range(0, pcm.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                pcm[:, start : start + 1024], format="fltp", layout="stereo"
            )
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def test_beat_grid_times_and_nearest() -> None:
    # A 120 bpm grid with a beat at 0.2 s lists every beat in [0, until].
    grid = BeatGrid(120.0, 0.2)
    assert grid.times(1.75) == pytest.approx([0.2, 0.7, 1.2, 1.7])
    # An offset beyond one period is folded back to the first beat after 0.
    assert BeatGrid(120.0, 1.2).times(0.8) == pytest.approx([0.2, 0.7])
    # The nearest beat rounds to the closer side.
    assert grid.nearest(0.9) == pytest.approx(0.7)
    assert grid.nearest(0.96) == pytest.approx(1.2)


def test_grid_for_cuts_finds_the_tempo_the_cuts_sit_on() -> None:
    # Cuts on exact multiples of 0.6 s (100 bpm) inside the 96..108 range.
    grid = grid_for_cuts([3.0, 6.6, 9.0, 12.6], 96.0, 108.0)
    # (Tempos within 2 ms of mean shift of the best count as ties, so allow 0.1 bpm.)
    assert grid.tempo_bpm == pytest.approx(100.0, abs=0.1)
    assert grid.offset_s == 0.0
    # Storyboard-like cuts: the chosen tempo moves them less than any other in range.
    cuts = [2.5, 5.0, 8.5, 11.0]
    chosen = grid_for_cuts(cuts, 84.0, 96.0)
    assert 84.0 <= chosen.tempo_bpm <= 96.0

    def mean_shift(tempo: float) -> float:
        period = 60.0 / tempo
        return float(np.mean([abs(c / period - round(c / period)) * period for c in cuts]))

    others = [mean_shift(t) for t in np.arange(84.0, 96.0, 0.25)]
    assert mean_shift(chosen.tempo_bpm) <= min(others) + 0.002
    # Among equally good tempos the preferred (seed) one wins.
    assert grid_for_cuts([], 84.0, 96.0, prefer_bpm=90.0).tempo_bpm == 90.0


@pytest.mark.parametrize("arrangement", sorted(TEMPO_RANGES))
def test_track_beats_on_synthesized_music(arrangement: str) -> None:
    # Each arrangement at an off-integer tempo inside its range, 20 s.
    low, high = TEMPO_RANGES[arrangement]
    for fraction in (0.23, 0.71):
        tempo = low + (high - low) * fraction
        plan = MusicPlan(tempo, 55, False, (0, 4, 5, 3), arrangement)
        grid = track_beats(synthesize(plan, 20.0, "job-track"), RATE)
        # Tempo within 1 bpm, beats within 20 ms (the music starts on a beat at t=0).
        assert grid.tempo_bpm == pytest.approx(tempo, abs=1.0)
        assert _phase_error(grid, tempo) < 0.020


def test_track_beats_on_a_click_track() -> None:
    # Noise clicks at 97.3 bpm starting at 0.25 s, at 44.1 kHz.
    rate, tempo, first = 44_100, 97.3, 0.25
    clicks = np.zeros(rate * 15)
    burst = np.random.default_rng(1).standard_normal(200) * np.exp(-np.arange(200) / 40)
    for t in np.arange(first, 14.5, 60.0 / tempo):
        start = round(t * rate)
        clicks[start : start + 200] += burst
    grid = track_beats(clicks, rate)
    # Tempo within 1 bpm and phase within 20 ms.
    assert grid.tempo_bpm == pytest.approx(tempo, abs=1.0)
    assert _phase_error(grid, tempo, first) < 0.020


def _check_bounds(spec: RenderSpec, bounds: list[int], grid: BeatGrid) -> int:
    """Assert the cut rules; return how many cuts were snapped."""
    fps = spec.fps
    raw = [0]
    for scene in spec.scenes:
        raw.append(round((sum(s.duration_s for s in spec.scenes[: scene.index])) * fps))
    # First 0, last the rounded total, one bound per scene edge.
    assert bounds[0] == 0 and bounds[-1] == round(spec.duration_s * fps)
    assert len(bounds) == len(spec.scenes) + 1
    # Every scene at least 1 s (these storyboards have no shorter scene).
    assert all(b - a >= fps for a, b in itertools.pairwise(bounds))
    snapped = 0
    for cut, own in zip(bounds[1:-1], raw[1:-1], strict=True):
        beat = grid.nearest(cut / fps)
        if cut != own:
            # A moved cut is within a frame of a beat, and moved at most half a beat.
            assert abs(cut - round(beat * fps)) <= 1
            assert abs(cut - own) <= grid.period_s / 2 * fps + 1
            snapped += 1
        elif abs(cut - round(beat * fps)) <= 1:
            snapped += 1
    return snapped


def test_cut_frames_snap_to_the_synthesized_grid() -> None:
    # Random storyboards of 3..6 scenes (1.2..6 s) for every variation.
    chooser = random.Random(7)
    total_cuts = total_snapped = 0
    for variation in range(1, 6):
        for _ in range(6):
            durations = [round(chooser.uniform(1.2, 6.0), 2) for _ in range(chooser.randint(3, 6))]
            spec = _spec(durations, variation=variation)
            grid = grid_for_spec(spec)
            low, high = TEMPO_RANGES[music_plan(spec.seed, variation).arrangement]
            # The tempo is in the arrangement's range, beats from t=0.
            assert low <= grid.tempo_bpm <= high and grid.offset_s == 0.0
            bounds = cut_frames(spec)
            total_snapped += _check_bounds(spec, bounds, grid)
            total_cuts += len(durations) - 1
    # Nearly every cut lands on a beat.
    assert total_snapped >= 0.9 * total_cuts


def test_cut_frames_keep_a_cut_that_would_make_a_short_scene() -> None:
    # A 1.02 s scene: snapping either of its cuts inward would make it shorter than 1 s.
    spec = _spec([2.0, 1.02, 2.5], variation=2)
    bounds = cut_frames(spec)
    grid = grid_for_spec(spec)
    assert bounds[2] - bounds[1] >= 30
    _check_bounds(spec, bounds, grid)
    # A scene shorter than a frame is refused, as before.
    with pytest.raises(ValueError, match="one frame"):
        cut_frames(_spec([1.0, 0.01, 1.0]))


def test_cut_frames_follow_uploaded_music(tmp_path: Path) -> None:
    # Uploaded music: the bounce bed at 103.7 bpm, starting on a beat at t=0.
    tempo = 103.7
    music = tmp_path / "music.wav"
    _write_wav(music, synthesize(MusicPlan(tempo, 57, True, (0, 5, 2, 6), "bounce"), 16.0))
    spec = _spec([2.3, 3.1, 4.4, 2.9], music_path=music)
    grid = grid_for_spec(spec)
    assert grid.tempo_bpm == pytest.approx(tempo, abs=1.0)
    bounds = cut_frames(spec)
    # Every cut is within a frame of a true beat of the music.
    period = 60.0 / tempo
    for cut in bounds[1:-1]:
        beat = round(cut / 30 / period) * period
        assert abs(cut - beat * 30) <= 1.5
    _check_bounds(spec, bounds, grid)


def test_soundtrack_plays_on_the_cut_grid() -> None:
    # The synthesized soundtrack is built at the grid's tempo: its tracked beats match.
    spec = _spec([2.4, 3.3, 4.1, 2.2], variation=4)
    grid = grid_for_spec(spec)
    assert music_plan(spec.seed, 4, grid.tempo_bpm).tempo == grid.tempo_bpm
    # The key and chords stay the seed's when the tempo is overridden.
    plain, timed = music_plan(spec.seed, 4), music_plan(spec.seed, 4, grid.tempo_bpm)
    assert (plain.root, plain.minor, plain.progression) == (
        timed.root,
        timed.minor,
        timed.progression,
    )
    tracked = track_beats(build_soundtrack(spec, spec.duration_s), RATE)
    assert tracked.tempo_bpm == pytest.approx(grid.tempo_bpm, abs=1.0)
    assert _phase_error(tracked, grid.tempo_bpm) < 0.020
    # So every snapped cut falls within a frame of a beat of the music itself.
    for cut in cut_frames(spec)[1:-1]:
        nearest = tracked.nearest(cut / spec.fps)
        assert abs(cut - nearest * spec.fps) <= 1.5
