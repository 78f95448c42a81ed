"""A render's contact sheet: one labelled thumbnail per scene, taken from the finished video.

Why from the video and not the storyboard frames: reviewers check what was actually
encoded (motion, captions, logo, end card), at the moment the renderer chose for each
scene, on one image they can glance at or attach to a review.

The geometry is public (`sheet_layout`), so tests can tell the tile count from the size.
"""

from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import av
from PIL import Image, ImageDraw, ImageFont

THUMB_LONG_SIDE = 360
MARGIN = 24
GAP = 16
LABEL_H = 32
LABEL_PX = 18
BACKGROUND = (17, 19, 24)
LABEL_COLOUR = (232, 234, 240)  # ~15:1 on the background
FRAME_COLOUR = (58, 62, 72)
JPEG_QUALITY = 85

Moment = tuple[int, float]  # (scene index, time in seconds)


@dataclass(frozen=True)
class SheetLayout:
    """Where each tile goes: thumbnails of `thumb` size in a `columns` x `rows` grid."""

    columns: int
    rows: int
    thumb: tuple[int, int]
    size: tuple[int, int]

    def tile_origin(self, i: int) -> tuple[int, int]:
        row, col = divmod(i, self.columns)
        return (
            MARGIN + col * (self.thumb[0] + GAP),
            MARGIN + row * (self.thumb[1] + LABEL_H + GAP),
        )


def default_columns(count: int) -> int:
    """3 columns up to 9 scenes (a 3x3 sheet at most), 4 beyond."""
    return 3 if count <= 9 else 4


def thumb_size(frame_size: tuple[int, int]) -> tuple[int, int]:
    """The video's aspect, `THUMB_LONG_SIDE` on the long side (even, never below 2 px)."""
    width, height = frame_size
    scale = THUMB_LONG_SIDE / max(width, height)
    return max(2, round(width * scale)), max(2, round(height * scale))


def sheet_layout(
    count: int, frame_size: tuple[int, int], columns: int | None = None
) -> SheetLayout:
    if count < 1:
        raise ValueError("a contact sheet needs at least one moment")
    cols = min(count, columns or default_columns(count))
    rows = math.ceil(count / cols)
    tw, th = thumb_size(frame_size)
    width = 2 * MARGIN + cols * tw + (cols - 1) * GAP
    height = 2 * MARGIN + rows * (th + LABEL_H) + (rows - 1) * GAP
    return SheetLayout(columns=cols, rows=rows, thumb=(tw, th), size=(width, height))


def moment_label(scene: int, at_s: float) -> str:
    """`Scene 2 · 0:03.4` (minutes, seconds to a tenth)."""
    tenths = max(0, round(at_s * 10))
    minutes, rest = divmod(tenths, 600)
    return f"Scene {scene} · {minutes}:{rest // 10:02d}.{rest % 10}"


def _frame_at(container: Any, stream: Any, at_s: float) -> Image.Image:
    """The frame shown at `at_s`: seek to the keyframe before it, decode forward."""
    if stream.time_base is not None and at_s > 0:
        container.seek(int(at_s / stream.time_base), stream=stream, backward=True)
    else:
        container.seek(0)
    half_frame = 0.5 / float(stream.average_rate or 30)
    chosen = None
    for frame in container.decode(stream):
        chosen = frame
        if frame.time is not None and frame.time + half_frame >= at_s:
            break
    if chosen is None:
        raise ValueError(f"no decodable frame at {at_s:.2f} s")
    image: Image.Image = cast(Any, chosen).to_image()
    return image


def _grab(video: Path, moments: list[Moment]) -> tuple[list[Image.Image], tuple[int, int]]:
    with av.open(str(video)) as container:
        if not container.streams.video:
            raise ValueError(f"{video.name} has no video stream")
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        duration = (container.duration or 0) / av.time_base
        last = max(0.0, duration - 0.05) if duration else None
        frames = []
        for _, at_s in moments:
            target = max(0.0, at_s if last is None else min(at_s, last))
            frames.append(_frame_at(container, stream, target))
    return frames, size


def _label_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled FreeType face: no font file to find on the host.
    return ImageFont.load_default(size=LABEL_PX)


def draw_sheet(frames: list[Image.Image], labels: list[str], layout: SheetLayout) -> Image.Image:
    sheet = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = _label_font()
    tw, th = layout.thumb
    for i, (frame, label) in enumerate(zip(frames, labels, strict=True)):
        x, y = layout.tile_origin(i)
        thumb = frame.convert("RGB").resize((tw, th), Image.Resampling.LANCZOS)
        sheet.paste(thumb, (x, y))
        draw.rectangle((x - 1, y - 1, x + tw, y + th), outline=FRAME_COLOUR)
        draw.text(
            (x + tw / 2, y + th + LABEL_H / 2), label, fill=LABEL_COLOUR, font=font, anchor="mm"
        )
    return sheet


def _write_jpeg(image: Image.Image, out: Path) -> None:
    """Temp file + rename: a reader (the gateway serving the sheet) never sees half a JPEG."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        image.save(tmp, "JPEG", quality=JPEG_QUALITY, optimize=True)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def contact_sheet(
    video: Path, moments: list[Moment], out: Path, columns: int | None = None
) -> Path:
    """A JPEG at `out` tiling the frames of `video` (H.264 mp4) at each (scene, seconds),
    in the order given, each labelled `Scene n · m:ss.t`; returns `out`."""
    video, out = Path(video), Path(out)
    frames, size = _grab(video, moments)
    layout = sheet_layout(len(moments), size, columns)
    labels = [moment_label(scene, at_s) for scene, at_s in moments]
    _write_jpeg(draw_sheet(frames, labels, layout), out)
    return out


__all__ = [
    "SheetLayout",
    "contact_sheet",
    "default_columns",
    "moment_label",
    "sheet_layout",
    "thumb_size",
]
