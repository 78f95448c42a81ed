"""Loudness and true peak by the ITU-R BS.1770-4 meters, a transparent true-peak limiter and
`master`, which sets a track to a loudness target under a true-peak ceiling.

Integrated loudness is pyloudnorm's BS.1770-4 meter (K-weighting, 400 ms blocks, absolute
and relative gates). True peak is the maximum of the signal oversampled 4x (BS.1770-4
Annex 2), which catches the inter-sample peaks a sample-peak meter misses and that a
decoder or DAC will reproduce.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SAMPLE_RATE = 48_000
OVERSAMPLE = 4
_CHUNK_S = 5.0
# Samples of context each side of a chunk so the polyphase filter (10 taps per phase each
# side by default) sees the same neighbours as it would on the whole signal.
_CHUNK_MARGIN = 64
# Limiter control rate: gains are computed per 1 ms block, interpolated per sample.
_CONTROL_S = 0.001
_LOOKAHEAD_S = 0.005
_RELEASE_S = 0.08
_MASTER_PASSES = 4


def integrated_loudness(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """Gated integrated loudness in LUFS of (channels, n) float samples; -inf if silent."""
    data = np.asarray(samples, dtype=np.float64).T
    block = math.ceil(0.4 * rate)
    if data.shape[0] < block:
        # The meter needs one whole gating block; silence does not change the gated mean.
        data = np.pad(data, ((0, block - data.shape[0]), (0, 0)))
    with np.errstate(divide="ignore"):
        import pyloudnorm  # lazily: clip workers never measure loudness

        loudness = pyloudnorm.Meter(rate).integrated_loudness(data)
    return float(loudness)


def _oversampled_chunks(samples: np.ndarray) -> list[np.ndarray]:
    """|x| oversampled 4x, max over channels, in chunks of `_CHUNK_S` (bounded memory):
    each array has OVERSAMPLE values per input sample of its chunk."""
    length = samples.shape[1]
    step = round(_CHUNK_S * SAMPLE_RATE)
    out = []
    for start in range(0, length, step):
        stop = min(length, start + step)
        lo, hi = max(0, start - _CHUNK_MARGIN), min(length, stop + _CHUNK_MARGIN)
        up = _resample_poly()(samples[:, lo:hi].astype(np.float32), OVERSAMPLE, 1, axis=1)
        core = np.abs(up[:, (start - lo) * OVERSAMPLE : (stop - lo) * OVERSAMPLE])
        out.append(core.max(axis=0))
    return out


def sample_true_peaks(samples: np.ndarray) -> np.ndarray:
    """Per input sample, the largest |value| of the 4x oversampled signal around it."""
    if samples.shape[1] == 0:
        return np.zeros(0, dtype=np.float32)
    chunks = [c.reshape(-1, OVERSAMPLE).max(axis=1) for c in _oversampled_chunks(samples)]
    return np.concatenate(chunks)


def true_peak_dbtp(samples: np.ndarray) -> float:
    """BS.1770-4 true peak of (channels, n) samples in dBTP; -inf if silent."""
    if samples.shape[1] == 0:
        return float("-inf")
    peak = max(float(c.max()) for c in _oversampled_chunks(samples))
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


def normalize(samples: np.ndarray, target_lufs: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """`samples` scaled to `target_lufs` (unchanged if silent)."""
    loudness = integrated_loudness(samples, rate)
    if not np.isfinite(loudness):
        return samples
    gain = 10 ** ((target_lufs - loudness) / 20)
    return (samples * np.float32(gain)).astype(np.float32)


def limiter_gain(peaks: np.ndarray, ceiling_dbtp: float) -> np.ndarray:
    """Per-sample gain (<= 1) that holds `peaks` (from `sample_true_peaks`) under the
    ceiling: it falls linearly over a 5 ms look-ahead before a peak (no click, no
    overshoot) and recovers exponentially over ~80 ms after it (no pumping on every
    transient). Every sample gets at most the gain its own true peak needs."""
    ceiling = 10 ** (ceiling_dbtp / 20)
    length = peaks.size
    block = max(1, round(_CONTROL_S * SAMPLE_RATE))
    blocks = -(-length // block)
    padded = np.pad(peaks, (0, blocks * block - length))
    need = np.minimum(1.0, ceiling / np.maximum(padded.reshape(blocks, block).max(axis=1), 1e-12))
    if need.min() >= 1.0:
        return np.ones(length, dtype=np.float32)
    # Release: instant drop, exponential recovery. A loop over 1 ms blocks (60 000 a
    # minute) is cheap; a recursive min has no vectorised form.
    recover = math.exp(-_CONTROL_S / _RELEASE_S)
    released = np.empty_like(need)
    current = 1.0
    for i, value in enumerate(need.tolist()):
        current = min(value, 1.0 - (1.0 - current) * recover)
        released[i] = current
    # Attack: the minimum over the next L blocks, averaged over the previous L blocks.
    # Each averaged term's window contains the block itself, so the mean never exceeds
    # what the block needs, and the gain ramps down linearly ahead of the peak.
    ahead = max(1, round(_LOOKAHEAD_S / _CONTROL_S))
    size = ahead + 1
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    lowest = minimum_filter1d(released, size, origin=-(size // 2), mode="nearest")
    smooth = uniform_filter1d(lowest, size, origin=(size - 1) // 2, mode="nearest")
    smooth = np.minimum(smooth, released)
    # Interpolating between block centres can only reach a neighbour's value, so hold
    # each block at the lower of itself and its neighbours first.
    held = smooth.copy()
    held[1:] = np.minimum(held[1:], smooth[:-1])
    held[:-1] = np.minimum(held[:-1], smooth[1:])
    centres = np.arange(blocks) * block + (block - 1) / 2
    gain: np.ndarray = np.interp(np.arange(length), centres, held).astype(np.float32)
    return gain


def limit_true_peak(samples: np.ndarray, ceiling_dbtp: float) -> np.ndarray:
    """`samples` with their true peak held under `ceiling_dbtp` by a smooth gain (never
    clipped). A gain that changes within a few ms moves the inter-sample peaks a little,
    so the result is re-measured and limited again, slightly lower, if needed."""
    out = samples.astype(np.float32, copy=False)
    target = ceiling_dbtp
    for _ in range(3):
        peaks = sample_true_peaks(out)
        if peaks.size == 0 or 20 * math.log10(max(float(peaks.max()), 1e-12)) <= ceiling_dbtp:
            return out
        out = (out * limiter_gain(peaks, target)).astype(np.float32)
        target -= 0.05
    return out


def master(
    samples: np.ndarray, target_lufs: float, ceiling_dbtp: float, rate: int = SAMPLE_RATE
) -> np.ndarray:
    """`samples` at `target_lufs` integrated with the true peak <= `ceiling_dbtp`.

    Limiting lowers the loudness a little (peaks are part of it), so the gain is raised
    again and the track limited again until it lands within 0.05 LU of the target."""
    loudness = integrated_loudness(samples, rate)
    if not np.isfinite(loudness):
        return samples.astype(np.float32, copy=False)
    source = samples.astype(np.float32, copy=False)
    gain_db = target_lufs - loudness
    out = source
    for _ in range(_MASTER_PASSES):
        out = limit_true_peak(source * np.float32(10 ** (gain_db / 20)), ceiling_dbtp)
        error = target_lufs - integrated_loudness(out, rate)
        if abs(error) <= 0.05:
            break
        gain_db += error
    return out


def _resample_poly() -> Any:
    """scipy's polyphase resampler, imported on first use: the clip workers import this
    module through the engine but never measure, and scipy costs them ~60 MB each."""
    from scipy.signal import resample_poly

    return resample_poly
