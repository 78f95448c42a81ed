"""One scene's picture at any frame: its source image moved along its path, with its
caption card on top (before transitions and the watermark are applied)."""

from __future__ import annotations

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
from services.renderer.engine.layout import counter_box, erase_box
from services.renderer.engine.looks import rng
from services.renderer.engine.scaler import PaddedSource, SubpixelScaler
from services.renderer.engine.spec import RenderSpec
from services.renderer.engine.text import FontLoader
from services.renderer.engine.timeline import Slot, Timeline


def load_storyboard_frame(
    path: Path, size: tuple[int, int], scene_count: int, marks: bool
) -> Image.Image:
    """The frame scaled (and centre-cropped) to `size`, its scene counter erased when it
    carries the storyboard renderer's marks."""
    try:
        with Image.open(path) as opened:
            opened.draft("RGB", size)
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"storyboard frame {path.name} is not a readable image: {exc}") from exc
    same_aspect = abs(image.width * size[1] - image.height * size[0]) <= max(size)
    if image.size != size:
        shrinking = image.width > size[0]
        resample = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC
        image = ImageOps.fit(image, size, resample)
    if marks and same_aspect:
        box = counter_box(size, scene_count)
        if box is not None:
            image = erase_box(image, box, margin=max(3, round(min(size) * 0.012)))
    return image


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
        scene = spec.scenes[slot.position]
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
                scene.frame_path, spec.size, len(spec.scenes), spec.storyboard_marks
            )
        self.source = PaddedSource.from_image(image)
        self.source_size = image.size
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
        window = self.slot.path.window(self.slot.progress(frame), self.source_size, self.size)
        buffer = self.scaler.render(self.source, window)
        if self.caption is not None:
            self.caption.apply(buffer, self.slot.reveal(frame, self.fps, REVEAL_S))
        return buffer
