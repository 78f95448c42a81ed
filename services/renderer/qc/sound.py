"""The sound of a file as decoded: how long, how loud (BS.1770 integrated loudness), its
true peak, and where it goes over a ceiling. The meters are the engine's
(`engine/loudness.py`: pyloudnorm, 4x oversampled true peak), so QC judges the mastering
with the same instrument that made it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.renderer.engine.loudness import (
    SAMPLE_RATE,
    integrated_loudness,
    sample_true_peaks,
    true_peak_dbtp,
)


@dataclass(frozen=True)
class SoundFacts:
    duration_s: float
    loudness_lufs: float  # -inf when silent
    true_peak_dbtp: float  # -inf when silent
    over_s: tuple[float, float] | None  # first and last moment over the ceiling
    over_count: int  # samples over the ceiling


def measure_sound(samples: np.ndarray, ceiling_dbtp: float) -> SoundFacts:
    """Facts of (channels, n) float samples at SAMPLE_RATE."""
    length = samples.shape[1]
    duration = length / SAMPLE_RATE
    if length == 0:
        return SoundFacts(0.0, float("-inf"), float("-inf"), None, 0)
    loudness = integrated_loudness(samples)
    true_peak = true_peak_dbtp(samples)
    if true_peak <= ceiling_dbtp:
        return SoundFacts(duration, loudness, true_peak, None, 0)
    # Only a track over the ceiling pays for finding where (per-sample peaks).
    over = np.flatnonzero(sample_true_peaks(samples) > 10 ** (ceiling_dbtp / 20))
    span = (float(over[0]) / SAMPLE_RATE, float(over[-1] + 1) / SAMPLE_RATE)
    return SoundFacts(duration, loudness, true_peak, span, int(over.size))
