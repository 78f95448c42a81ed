"""Transitions between two composed yuv420p frames, as a function of progress p in (0, 1).

All work on the whole contiguous buffer or on plane views, in 8.8 fixed point; a push moves
by even whole pixels (it travels ~70 px a frame, where sub-pixel steps are invisible) so
the chroma planes shift by whole samples too.
"""

from __future__ import annotations

import numpy as np

from services.renderer.engine.scaler import new_yuv420, yuv420_planes

KINDS = ("dissolve", "push_left", "dip", "wipe", "push_up")


def smoothstep(p: float) -> float:
    p = min(1.0, max(0.0, p))
    return p * p * (3 - 2 * p)


def _mix(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    w = round(t * 256)
    if w <= 0:
        return a
    if w >= 256:
        return b
    total = a.astype(np.uint16) * np.uint16(256 - w)
    total += b * np.uint16(w)
    total += np.uint16(128)
    mixed: np.ndarray = np.right_shift(total, 8).astype(np.uint8)
    return mixed


def solid(colour_yuv: tuple[int, int, int], size: tuple[int, int]) -> np.ndarray:
    """A yuv420p buffer of one colour."""
    buffer = new_yuv420(*size)
    for plane, value in zip(yuv420_planes(buffer, *size), colour_yuv, strict=True):
        plane[:] = value
    return buffer


def blend(
    kind: str,
    a: np.ndarray,
    b: np.ndarray,
    p: float,
    size: tuple[int, int],
    dip_colour: np.ndarray | None = None,
) -> np.ndarray:
    """Frame at progress `p` of a transition from `a` to `b` (buffers of `size`)."""
    t = smoothstep(p)
    if kind == "dip" and dip_colour is not None:
        if p < 0.5:
            return _mix(a, dip_colour, smoothstep(p * 2))
        return _mix(dip_colour, b, smoothstep(p * 2 - 1))
    if kind in ("push_left", "push_up"):
        return _push(a, b, t, size, vertical=kind == "push_up")
    if kind == "wipe":
        return _wipe(a, b, p, size)
    return _mix(a, b, t)


def _push(
    a: np.ndarray, b: np.ndarray, t: float, size: tuple[int, int], vertical: bool
) -> np.ndarray:
    width, height = size
    extent = height if vertical else width
    shift = min(extent, max(0, round(t * extent / 2) * 2))
    out = new_yuv420(width, height)
    for src_a, src_b, dst in zip(
        yuv420_planes(a, width, height),
        yuv420_planes(b, width, height),
        yuv420_planes(out, width, height),
        strict=True,
    ):
        step = shift * dst.shape[0 if vertical else 1] // extent
        if vertical:
            keep = dst.shape[0] - step
            dst[:keep] = src_a[step:]
            dst[keep:] = src_b[:step]
        else:
            keep = dst.shape[1] - step
            dst[:, :keep] = src_a[:, step:]
            dst[:, keep:] = src_b[:, :step]
    return out


def _wipe(a: np.ndarray, b: np.ndarray, p: float, size: tuple[int, int]) -> np.ndarray:
    """A soft-edged left-to-right wipe (the edge is 15% of the width wide)."""
    width, height = size
    soft = max(2.0, width * 0.15)
    edge = smoothstep(p) * (width + soft)
    out = new_yuv420(width, height)
    for i, (src_a, src_b, dst) in enumerate(
        zip(
            yuv420_planes(a, width, height),
            yuv420_planes(b, width, height),
            yuv420_planes(out, width, height),
            strict=True,
        )
    ):
        cols = (np.arange(dst.shape[1], dtype=np.float32) + 0.5) * (1 if i == 0 else 2)
        weight = (np.clip((edge - cols) / soft, 0.0, 1.0) * 256).astype(np.uint16)[None, :]
        mixed = (src_a.astype(np.uint16) * (256 - weight) + src_b * weight + 128) >> 8
        dst[:] = mixed.astype(np.uint8)
    return out
