"""`render_clip`: one scene's video-only H.264 clip, encoded independently of the others.

Frames are generated one at a time and streamed into x264 (memory does not grow with the
clip's length). The clip holds the scene's own frames [start, end); the halves of the
transitions at its edges are rendered here too, from the neighbouring scenes' pictures at
the same instants, so consecutive clips join seamlessly by stream copy. A video scene's
decoder stays open for the whole clip (see video.py).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from services.renderer.engine.captions import CaptionTrack
from services.renderer.engine.checkpoint import clip_fingerprint
from services.renderer.engine.encode import VideoEncoder, atomic_output
from services.renderer.engine.fine_print import FinePrintTrack
from services.renderer.engine.probe import probe
from services.renderer.engine.scaler import SubpixelScaler, yuv_colour
from services.renderer.engine.scene import SceneRenderer
from services.renderer.engine.spec import RenderCanceled, RenderSpec, VideoInfo
from services.renderer.engine.timeline import Timeline, build_timeline
from services.renderer.engine.transitions import blend, solid
from shared.creative.layers import colours_for

CANCEL_CHECK_FRAMES = 15


class _ClipFrames:
    """Produces the composed frames of one clip."""

    def __init__(self, spec: RenderSpec, timeline: Timeline, position: int) -> None:
        self.spec, self.timeline, self.position = spec, timeline, position
        self.slot = timeline.slots[position]
        self.scaler = SubpixelScaler(*spec.size)
        self.scenes: dict[int, SceneRenderer] = {}
        self.captions = CaptionTrack(spec, timeline)
        self.fine_print = FinePrintTrack(spec, timeline)
        self.dip: np.ndarray | None = None
        if timeline.look.transition == "dip":
            colours = colours_for(spec.style, spec.palette)
            self.dip = solid(yuv_colour(colours.field), spec.size)

    def _scene(self, position: int) -> SceneRenderer:
        renderer = self.scenes.get(position)
        if renderer is None:
            renderer = SceneRenderer(
                self.spec, self.timeline, self.timeline.slots[position], self.scaler
            )
            self.scenes[position] = renderer
        return renderer

    def frame(self, index: int) -> np.ndarray:
        slot, position = self.slot, self.position
        kind = self.timeline.look.transition
        if slot.fade_in and index < slot.start + slot.fade_in:
            p = (index - (slot.start - slot.fade_in) + 0.5) / (2 * slot.fade_in)
            a = self._scene(position - 1).render(index)
            b = self._scene(position).render(index)
            buffer = blend(kind, a, b, p, self.spec.size, self.dip)
        elif slot.fade_out and index >= slot.end - slot.fade_out:
            p = (index - (slot.end - slot.fade_out) + 0.5) / (2 * slot.fade_out)
            a = self._scene(position).render(index)
            b = self._scene(position + 1).render(index)
            buffer = blend(kind, a, b, p, self.spec.size, self.dip)
        else:
            buffer = self._scene(position).render(index)
        self.captions.apply(buffer, index / self.spec.fps)
        self.fine_print.apply(buffer, index)
        return buffer

    def close(self) -> None:
        """Close the video decoders of video scenes (kept open for the whole clip)."""
        for renderer in self.scenes.values():
            renderer.close()
        self.scenes.clear()


def render_clip(
    spec: RenderSpec, scene_index: int, out_path: Path, cancel_file: Path | None = None
) -> VideoInfo:
    """Render scene `scene_index` (1-based) to `out_path` (H.264 yuv420p MP4, no audio,
    constant `spec.fps`). Written to a temp file beside `out_path`, then renamed. Raises
    RenderCanceled (leaving no file) if `cancel_file` appears, ValueError for bad input."""
    timeline = build_timeline(spec)
    if not 1 <= scene_index <= len(timeline.slots):
        raise ValueError(f"scene_index must be 1..{len(timeline.slots)}, got {scene_index}")
    out_path = Path(out_path)
    frames = _ClipFrames(spec, timeline, scene_index - 1)
    slot = frames.slot
    metadata = {"comment": clip_fingerprint(spec, scene_index)}
    with atomic_output(out_path) as tmp:
        encoder = VideoEncoder(
            tmp, spec.size, spec.fps, spec.crf, spec.preset, spec.encoder_threads, metadata
        )
        try:
            for count, index in enumerate(range(slot.start, slot.end)):
                if (
                    cancel_file is not None
                    and count % CANCEL_CHECK_FRAMES == 0
                    and cancel_file.exists()
                ):
                    raise RenderCanceled(f"scene {scene_index}: canceled")
                encoder.write(frames.frame(index))
            encoder.close()
        except BaseException:
            encoder.abort()
            raise
        finally:
            frames.close()
    del frames, encoder
    _trim_heap()
    return probe(out_path)


def _trim_heap() -> None:
    """Hand freed heap pages back to the OS between clips (glibc keeps them otherwise, and a
    long-lived worker's RSS would ratchet up to the worst clip plus fragmentation)."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim: Callable[[int], int] | Literal[False] | None = None
