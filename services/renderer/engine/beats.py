"""Scene cuts on the music's beat grid.

A cut that lands on a beat feels intentional; one a few frames off feels sloppy. For the
synthesized bed the tempo is free within the arrangement's range, so it is chosen to put
the storyboard's cuts as close to beats as possible (the bed then plays at that tempo,
starting on a beat at t=0). For uploaded music the grid is tracked from the audio. Either
way each cut is then moved to its nearest beat, within limits (`cut_frames`).

`grid_for_spec` is the one source of the grid for both the timeline (`cut_frames`) and the
soundtrack (`audio.build_soundtrack`), so picture and music cannot disagree.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from services.renderer.engine.music import music_plan, tempo_range
from services.renderer.engine.spec import RenderSpec

MIN_SCENE_S = 1.0
_TEMPO_STEP = 0.01  # bpm, for the synthesized bed's tempo search
# Among tempos whose mean cut shift is within this of the best, the seed's own tempo
# (or the one nearest it) wins, so jobs with the same durations do not all share a tempo.
_SHIFT_TOLERANCE_S = 0.002
_TRACK_RANGE = (70.0, 180.0)
_ENVELOPE_RATE = 12_000  # Hz the music is decimated to before the onset analysis
_FRAME = 256  # 21 ms STFT window at 12 kHz
_HOP = 48  # 4 ms hop: 250 onset values a second
_MAX_TRACK_S = 60.0
_BAND_COUNT = 40
_ACF_PEAKS = 8


@dataclass(frozen=True)
class BeatGrid:
    tempo_bpm: float
    offset_s: float  # time of a beat (any beat is t = offset + k * period)

    @property
    def period_s(self) -> float:
        return 60.0 / self.tempo_bpm

    def times(self, until_s: float) -> list[float]:
        """Every beat time in [0, until_s]."""
        period = self.period_s
        first = self.offset_s - math.floor(self.offset_s / period) * period
        count = math.floor((until_s - first) / period + 1e-9) + 1
        return [first + k * period for k in range(max(0, count))]

    def nearest(self, t: float) -> float:
        """The beat time nearest to `t` (may be before 0 for t near 0)."""
        period = self.period_s
        return self.offset_s + round((t - self.offset_s) / period) * period


def _mean_shift(cuts: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Mean distance (s) of `cuts` to the nearest multiple of each period."""
    ratio = cuts[None, :] / periods[:, None]
    shift: np.ndarray = (np.abs(ratio - np.round(ratio)) * periods[:, None]).mean(axis=1)
    return shift


def grid_for_cuts(
    cuts_s: list[float], low_bpm: float, high_bpm: float, prefer_bpm: float | None = None
) -> BeatGrid:
    """The tempo in [low_bpm, high_bpm] (beats from t=0) whose beats lie closest, on
    average, to `cuts_s`; ties (within 2 ms) go to the tempo nearest `prefer_bpm`."""
    if not low_bpm <= high_bpm:
        raise ValueError("low_bpm must be <= high_bpm")
    preferred = (low_bpm + high_bpm) / 2 if prefer_bpm is None else prefer_bpm
    steps = round((high_bpm - low_bpm) / _TEMPO_STEP)
    tempos = np.linspace(low_bpm, high_bpm, steps + 1)
    cuts = np.asarray([c for c in cuts_s if c > 0], dtype=np.float64)
    if cuts.size == 0:
        return BeatGrid(float(np.clip(preferred, low_bpm, high_bpm)), 0.0)
    shift = _mean_shift(cuts, 60.0 / tempos)
    good = np.flatnonzero(shift <= shift.min() + _SHIFT_TOLERANCE_S)
    best = good[np.argmin(np.abs(tempos[good] - preferred))]
    return BeatGrid(round(float(tempos[best]), 4), 0.0)


# ------------------------------------------------------------------------------ tracking


def onset_envelope(samples: np.ndarray, rate: int) -> tuple[np.ndarray, float]:
    """Onset strength, one value per 4 ms, and the envelope's rate in Hz: the rectified
    rise of log energy (dB, floored 80 dB under the loudest) in 40 log-spaced bands,
    averaged. Log-spaced bands give the kick and bass, which mark the beat, as much say as
    the broadband hi-hats between beats (linear FFT bins would hand it to the hats).
    Values are stamped at their frame's centre."""
    mono = np.asarray(samples, dtype=np.float64)
    if mono.ndim == 2:
        mono = mono.mean(axis=0)
    from scipy.signal import resample_poly  # lazily: clip workers never track beats

    mono = resample_poly(mono, _ENVELOPE_RATE, rate) if rate != _ENVELOPE_RATE else mono
    if mono.size < _FRAME + _HOP:
        return np.zeros(1), _ENVELOPE_RATE / _HOP
    frames = np.lib.stride_tricks.sliding_window_view(mono, _FRAME)[::_HOP]
    power = np.abs(np.fft.rfft(frames * np.hanning(_FRAME), axis=1)) ** 2
    bands = power @ _band_matrix()
    level = 10 * np.log10(np.maximum(bands, 1e-20))
    level = np.maximum(level, level.max() - 80.0)
    rise = np.maximum(0.0, np.diff(level, axis=0, prepend=level[:1])).mean(axis=1)
    return rise, _ENVELOPE_RATE / _HOP


@lru_cache(maxsize=1)
def _band_matrix() -> np.ndarray:
    """(bins, bands) triangular weights of 40 log-spaced bands, 40 Hz .. 5 kHz."""
    freqs = np.fft.rfftfreq(_FRAME, 1 / _ENVELOPE_RATE)
    edges = np.geomspace(40.0, 5000.0, _BAND_COUNT + 2)
    matrix = np.zeros((freqs.size, _BAND_COUNT))
    for b in range(_BAND_COUNT):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        matrix[:, b] = np.maximum(0.0, np.minimum(up, down))
        if not matrix[:, b].any():
            # Low bands narrower than a bin: take the nearest bin.
            matrix[np.argmin(np.abs(freqs - mid)), b] = 1.0
    return matrix


def _comb_scores(
    envelope: np.ndarray, env_rate: float, tempos: np.ndarray, phase_step_s: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """For each tempo, the mean onset strength on its grid at every phase (step
    `phase_step_s`); returns the best score per tempo and each tempo's phase scores."""
    duration = envelope.size / env_rate
    positions = np.arange(envelope.size)
    best = np.empty(tempos.size)
    per_phase = []
    for i, tempo in enumerate(tempos):
        period = 60.0 / tempo
        phases = np.arange(0.0, period, phase_step_s)
        beats = np.arange(0.0, duration - period, period)
        at = (phases[:, None] + beats[None, :]) * env_rate
        values = np.interp(at, positions, envelope)
        scores = values.mean(axis=1)
        per_phase.append(scores)
        best[i] = scores.max()
    return best, per_phase


def track_beats(samples: np.ndarray, rate: int) -> BeatGrid:
    """The beat grid of a piece of music ((channels, n) or (n,) samples).

    Tempo: autocorrelation of the onset envelope over lags for 70..180 bpm, weighted
    towards ~120 bpm (a mild prior against octave errors), then refined to 0.02 bpm by
    the comb score (mean onset strength on the grid at the best phase) around it, which
    uses every beat of the track rather than one lag. Phase: the comb's best phase."""
    envelope, env_rate = onset_envelope(samples, rate)
    envelope = envelope[: round(_MAX_TRACK_S * env_rate)]
    from scipy.ndimage import gaussian_filter1d, uniform_filter1d

    smooth = gaussian_filter1d(envelope, sigma=0.008 * env_rate)
    # Minus its local mean (0.5 s): slow swells (pad attacks, fades) would otherwise make
    # the shortest lags the most alike and hide the beat's peak in the autocorrelation.
    centred = smooth - uniform_filter1d(smooth, round(0.5 * env_rate), mode="nearest")
    if not np.any(centred):
        return BeatGrid(120.0, 0.0)
    spectrum = np.fft.rfft(centred, n=2 * centred.size)
    acf = np.fft.irfft(np.abs(spectrum) ** 2)[: centred.size]
    acf /= np.arange(centred.size, 0, -1)  # unbiased: long lags have fewer terms
    low, high = _TRACK_RANGE
    # Lags down to half the slowest tempo: a bed with hits on beats 1 and 3 only repeats
    # most strongly every two beats; the comb below maps that back into range.
    lags = np.arange(math.floor(60.0 / high * env_rate), math.ceil(120.0 / low * env_rate) + 1)
    lags = lags[lags < acf.size]
    if lags.size == 0:
        return BeatGrid(120.0, 0.0)
    bpm = 60.0 * env_rate / lags
    prior = np.exp(-0.5 * np.log2(bpm / 110.0) ** 2)
    values = acf[lags]
    peaks = np.flatnonzero((values[1:-1] >= values[:-2]) & (values[1:-1] >= values[2:])) + 1
    if peaks.size == 0:
        peaks = np.arange(values.size)
    strongest = peaks[np.argsort((values * prior)[peaks])[::-1][:_ACF_PEAKS]]
    # Each peak and its octaves in range are candidates; the comb (mean onset strength on
    # the grid at its best phase, over the whole excerpt) decides between them, since a
    # sparse pattern can leave the autocorrelation's top peak at a wrong tempo.
    candidates: list[float] = []
    for lag_bpm in bpm[strongest]:
        for factor in (0.5, 1.0, 2.0, 4.0):
            tempo = float(lag_bpm) * factor
            if low <= tempo <= high and all(abs(tempo - c) > 1.0 for c in candidates):
                candidates.append(tempo)
    best_score, coarse = -1.0, candidates[0]
    for centre in candidates:
        tempos = np.clip(centre + np.arange(-1.0, 1.05, 0.1), low, high)
        # The beat is the level whose own grid, and the grids at half and double its
        # rate, all carry onsets: a pattern of even eighths scores as well on a grid of
        # 1.5 beats as on the beat, but only the beat has strong bars and off-beats too.
        weighted = np.zeros(tempos.size)
        for factor, weight in ((1.0, 1.0), (0.5, 0.5), (2.0, 0.5)):
            weighted += weight * _comb_scores(smooth, env_rate, tempos * factor, 0.004)[0]
        i = int(np.argmax(weighted))
        if weighted[i] > best_score:
            best_score, coarse = float(weighted[i]), float(tempos[i])
    tempos = np.clip(coarse + np.arange(-0.15, 0.155, 0.01), low, high)
    scores, phases = _comb_scores(smooth, env_rate, tempos, 0.001)
    i = int(np.argmax(scores))
    tempo = float(tempos[i])
    offset = float(np.argmax(phases[i])) * 0.001 + _FRAME / 2 / _ENVELOPE_RATE
    return BeatGrid(round(tempo, 3), offset % (60.0 / tempo))


# ------------------------------------------------------------------------------ the spec


def _scene_ends(spec: RenderSpec) -> list[float]:
    return list(itertools.accumulate(scene.duration_s for scene in spec.scenes))


@lru_cache(maxsize=16)
def _uploaded_grid(path: Path, mtime_ns: int, size: int, seconds: float) -> BeatGrid:
    # Imported here: audio imports this module for the grid.
    from services.renderer.engine.audio import load_audio
    from services.renderer.engine.loudness import SAMPLE_RATE

    return track_beats(load_audio(path, seconds), SAMPLE_RATE)


@lru_cache(maxsize=64)
def _synth_grid(ends: tuple[float, ...], seed: str, variation: int) -> BeatGrid:
    low, high = tempo_range(variation)
    preferred = music_plan(seed, variation).tempo
    return grid_for_cuts(list(ends[:-1]), low, high, preferred)


def grid_for_spec(spec: RenderSpec) -> BeatGrid:
    """The music's beat grid for this spec: tracked from `spec.music_path` (its first
    `duration` seconds, which is what plays), else the synthesized bed's tempo chosen
    for the scene cuts. Cached: every clip worker and the soundtrack ask for it."""
    if spec.music_path is not None:
        stat = Path(spec.music_path).stat()
        seconds = min(spec.duration_s, _MAX_TRACK_S)
        return _uploaded_grid(Path(spec.music_path), stat.st_mtime_ns, stat.st_size, seconds)
    return _synth_grid(tuple(_scene_ends(spec)), spec.seed, spec.variation)


def cut_frames(spec: RenderSpec) -> list[int]:
    """Scene boundaries in frames (first 0, last round(total * fps)): each cut moved to
    the nearest beat of `grid_for_spec(spec)`, unless that would move it more than half a
    beat or leave a scene shorter than max(1 frame, 1 s); then it stays at its own frame.
    ValueError if a scene is shorter than one frame even unsnapped."""
    fps = spec.fps
    ends = _scene_ends(spec)
    raw = [0, *(round(t * fps) for t in ends)]
    for a, b in itertools.pairwise(raw):
        if b <= a:
            raise ValueError(f"every scene must last at least one frame (1/{fps} s)")
    grid = grid_for_spec(spec)
    shortest = max(1, math.ceil(MIN_SCENE_S * fps - 1e-9))
    bounds = [0]
    for i, t in enumerate(ends[:-1], start=1):
        beat = grid.nearest(t)
        frame = round(beat * fps)
        fits = (
            abs(beat - t) <= grid.period_s / 2 + 1e-9
            and frame - bounds[-1] >= shortest
            # The next cut may stay where it is, so leave that scene long enough too.
            and raw[i + 1] - frame >= shortest
        )
        bounds.append(frame if fits else raw[i])
    bounds.append(raw[-1])
    return bounds
