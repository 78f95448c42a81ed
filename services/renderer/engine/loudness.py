"""Loudness (ITU-R BS.1770 / EBU R128 integrated, gated) and a transparent peak limiter.

K-weighting is applied per 400 ms block in the frequency domain (|H|^2 of the standard
48 kHz shelf + high-pass biquads on each block's spectrum, by Parseval), which is within a
few tenths of a LU of a time-domain meter for music and speech: "-16 LUFS-ish" by design.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 48_000
_SHELF = (
    (1.53512485958697, -2.69169618940638, 1.19839281085285),
    (-1.69065929318241, 0.73248077421585),
)
_HIGHPASS = ((1.0, -2.0, 1.0), (-1.99004745483398, 0.99007225036621))
_BLOCK_S, _HOP_S = 0.4, 0.1
_CHUNK_BLOCKS = 16


def _biquad_power(coeffs: tuple[tuple[float, ...], tuple[float, ...]], n: int) -> np.ndarray:
    (b0, b1, b2), (a1, a2) = coeffs
    z = np.exp(-1j * 2 * np.pi * np.fft.rfftfreq(n))
    num = b0 + b1 * z + b2 * z * z
    den = 1 + a1 * z + a2 * z * z
    power: np.ndarray = np.abs(num / den) ** 2
    return power


def block_powers(samples: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """K-weighted mean square of each 400 ms block (75% overlap), summed over channels."""
    block, hop = round(_BLOCK_S * rate), round(_HOP_S * rate)
    length = samples.shape[1]
    if length < block:
        samples = np.pad(samples, ((0, 0), (0, block - length)))
    weight = _biquad_power(_SHELF, block) * _biquad_power(_HIGHPASS, block)
    # Parseval for a real FFT: interior bins count twice.
    weight[1:-1] *= 2
    windows = np.lib.stride_tricks.sliding_window_view(samples, block, axis=1)[:, ::hop]
    powers = []
    for start in range(0, windows.shape[1], _CHUNK_BLOCKS):
        chunk = windows[:, start : start + _CHUNK_BLOCKS].astype(np.float64)
        spectrum = np.abs(np.fft.rfft(chunk, axis=-1)) ** 2
        powers.append((spectrum * weight).sum(axis=-1).sum(axis=0) / (block * block))
    return np.concatenate(powers)


def integrated_loudness(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """Gated integrated loudness in LUFS of (channels, n) float samples; -inf if silent."""
    z = block_powers(samples, rate)
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(z)
    gated = z[loud > -70.0]
    if gated.size == 0:
        return float("-inf")
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    with np.errstate(divide="ignore"):
        final = gated[(-0.691 + 10 * np.log10(gated)) > relative]
    return float(-0.691 + 10 * np.log10(final.mean()))


def normalize(samples: np.ndarray, target_lufs: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    """`samples` scaled to `target_lufs` (unchanged if silent)."""
    loudness = integrated_loudness(samples, rate)
    if not np.isfinite(loudness):
        return samples
    gain = 10 ** ((target_lufs - loudness) / 20)
    return (samples * np.float32(gain)).astype(np.float32)


def limit(samples: np.ndarray, ceiling_dbfs: float = -1.0, block: int = 256) -> np.ndarray:
    """Peaks held under `ceiling_dbfs` by a smooth gain: per block the gain the loudest
    sample needs, taking the minimum with both neighbours and interpolating between block
    centres, so every sample is scaled by at most what its own block needs."""
    ceiling = 10 ** (ceiling_dbfs / 20)
    peak = np.abs(samples).max(axis=0)
    blocks = -(-peak.size // block)
    padded = np.pad(peak, (0, blocks * block - peak.size))
    need = np.minimum(1.0, ceiling / np.maximum(padded.reshape(blocks, block).max(axis=1), 1e-9))
    if need.min() >= 1.0:
        return samples
    held = need.copy()
    held[1:] = np.minimum(held[1:], need[:-1])
    held[:-1] = np.minimum(held[:-1], need[1:])
    centres = np.arange(blocks) * block + block / 2
    gain = np.interp(np.arange(peak.size), centres, held).astype(np.float32)
    out = samples * gain
    limited: np.ndarray = np.clip(out, -ceiling, ceiling).astype(np.float32)
    return limited
