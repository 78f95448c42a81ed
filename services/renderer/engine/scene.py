"""One scene's picture at any frame: its source image moved along its path (or, for a video
scene, its video clip's picture at that instant), with its caption card on top (before
transitions and the watermark are applied)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from services.renderer.engine.captions import (
    REVEAL_S,
    BrandColours,
    CaptionLayer,
    CaptionText,
    build_caption_layer,
)
from services.renderer.engine.endcard import draw_end_card
from services.renderer.engine.layout import erase_counter
from services.renderer.engine.looks import rng
from services.renderer.engine.scaler import PaddedSource, SubpixelScaler
from services.renderer.engine.spec import RenderSpec
from services.renderer.engine.text import FontLoader
from services.renderer.engine.timeline import Slot, Timeline
from services.renderer.engine.video import VideoSource


def load_storyboard_frame(
    path: Path, size: tuple[int, int], index: int, count: int, marks: bool
) -> Image.Image:
    """The frame scaled (and centre-cropped) to `size`; when it carries the storyboard
    renderer's marks, its "index / count" badge is erased first (at its drawn size)."""
    try:
        with Image.open(path) as opened:
            if not marks:
                opened.draft("RGB", size)  # the badge must be erased at full resolution
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"storyboard frame {path.name} is not a readable image: {exc}") from exc
    if marks:
        image = erase_counter(image, index, count)
    if image.size != size:
        shrinking = image.width > size[0]
        resample = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC
        image = ImageOps.fit(image, size, resample)
    return image


# A clip worker renders neighbouring clips one after another, and each clip needs its
# neighbours' pictures for the transitions: keep the last few prepared sources.
_CACHE_SIZE = 3
_cache: OrderedDict[tuple[object, ...], PaddedSource] = OrderedDict()


def _source(spec: RenderSpec, slot: Slot, load: FontLoader) -> tuple[PaddedSource, tuple[int, int]]:
    scene = spec.scenes[slot.position]
    if slot.end_card:
        key: tuple[object, ...] = (
            "end",
            spec.size,
            spec.palette,
            scene.caption,
            spec.call_to_action,
            _file_key(spec.logo_path),
            _file_key(spec.font_path),
            spec.seed,
            spec.variation,
        )
    else:
        key = (
            "frame",
            _file_key(scene.frame_path),
            spec.size,
            len(spec.scenes),
            spec.storyboard_marks,
        )
    source = _cache.get(key)
    if source is None:
        if slot.end_card:
            image = draw_end_card(
                spec.size,
                spec.palette,
                scene.caption,
                spec.call_to_action,
                spec.logo_path,
                load,
                rng("end card", spec.seed, spec.variation),
            )
        else:
            image = load_storyboard_frame(
                scene.frame_path, spec.size, scene.index, len(spec.scenes), spec.storyboard_marks
            )
        source = PaddedSource.from_image(image)
        _cache[key] = source
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return source, (source.width, source.height)


def _file_key(path: Path | None) -> tuple[str, int, int] | None:
    if path is None:
        return None
    stat = path.stat()
    return (str(path), stat.st_mtime_ns, stat.st_size)


class SceneRenderer:
    def __init__(
        self,
        spec: RenderSpec,
        timeline: Timeline,
        slot: Slot,
        scaler: SubpixelScaler,
        colours: BrandColours,
        load: FontLoader,
    ) -> None:
        self.slot = slot
        self.size = spec.size
        self.fps = spec.fps
        self.scaler = scaler
        self.video: VideoSource | None = None
        scene = spec.scenes[slot.position]
        if slot.video and scene.video_path is not None:
            self.video = VideoSource(scene.video_path, spec.size, f"scene {scene.index}")
        else:
            self.source, self.source_size = _source(spec, slot, load)
        self.caption: CaptionLayer | None = None
        if slot.card_box is not None:
            text = slot.caption or CaptionText(lines=(), font_px=1, width=0, height=0)
            self.caption = build_caption_layer(
                text,
                slot.card_box,
                timeline.look.caption,
                timeline.look.reveal,
                colours,
                load,
                spec.size,
                spec.fps,
            )

    def render(self, frame: int) -> np.ndarray:
        if self.video is not None:
            buffer = self.video.render(self.slot.video_time(frame, self.fps))
        else:
            window = self.slot.path.window(self.slot.progress(frame), self.source_size, self.size)
            buffer = self.scaler.render(self.source, window)
        if self.caption is not None:
            self.caption.apply(buffer, self.slot.reveal(frame, self.fps, REVEAL_S))
        return buffer

    def close(self) -> None:
        if self.video is not None:
            self.video.close()
