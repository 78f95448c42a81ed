"""The contact sheet (`services/renderer/engine/contact_sheet.py`) of a small H.264 video."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
import pytest
from PIL import Image

from services.renderer.engine.contact_sheet import (
    BACKGROUND,
    LABEL_H,
    contact_sheet,
    default_columns,
    moment_label,
    sheet_layout,
    thumb_size,
)

FPS = 10
# One flat colour per second: the frame at a time tells which second it came from.
COLOURS = [(220, 40, 40), (40, 200, 60), (40, 80, 220), (230, 200, 30), (200, 40, 200)]


def _video(path: Path, size: tuple[int, int]) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        stream.options = {"g": "25"}  # keyframes 2.5 s apart: seeking must decode forward
        for second, colour in enumerate(COLOURS):
            for i in range(FPS):
                array = np.zeros((size[1], size[0], 3), np.uint8)
                array[:] = colour
                frame = av.VideoFrame.from_ndarray(array, format="rgb24")
                frame.pts = second * FPS + i
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _video(tmp_path_factory.mktemp("sheet") / "portrait.mp4", (180, 320))


def _close(a: Any, b: tuple[int, ...], tolerance: int = 30) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(cast(tuple[int, ...], a), b, strict=False))


def test_tiles_show_the_frame_at_each_moment_in_order(portrait: Path, tmp_path: Path) -> None:
    moments = [(1, 0.5), (2, 1.5), (3, 2.6), (4, 3.4), (5, 4.7)]
    out = contact_sheet(portrait, moments, tmp_path / "sheets" / "sheet.jpg")
    assert out == tmp_path / "sheets" / "sheet.jpg"
    assert list(out.parent.iterdir()) == [out]  # no temp file left behind
    sheet = Image.open(out)
    assert sheet.format == "JPEG"
    layout = sheet_layout(5, (180, 320))
    assert (layout.columns, layout.rows) == (3, 2)
    assert sheet.size == layout.size
    for i, colour in enumerate(COLOURS):
        x, y = layout.tile_origin(i)
        centre = sheet.getpixel((x + layout.thumb[0] // 2, y + layout.thumb[1] // 2))
        assert _close(centre, colour), (i, centre, colour)
    # An empty sixth cell stays background; a label row sits under every tile.
    x, y = layout.tile_origin(5)
    assert _close(sheet.getpixel((x + 20, y + 20)), BACKGROUND, 8)
    x, y = layout.tile_origin(0)
    tw, th = layout.thumb
    label_row = sheet.crop((x, y + th + 2, x + tw, y + th + LABEL_H))
    assert (
        cast(tuple[int, int], label_row.convert("L").getextrema())[1] > 150
    )  # light text on the dark sheet


def test_a_moment_past_the_end_takes_the_last_frame(portrait: Path, tmp_path: Path) -> None:
    out = contact_sheet(portrait, [(1, 99.0)], tmp_path / "one.jpg")
    sheet = Image.open(out)
    layout = sheet_layout(1, (180, 320))
    assert sheet.size == layout.size
    x, y = layout.tile_origin(0)
    assert _close(sheet.getpixel((x + 40, y + 40)), COLOURS[-1])


def test_layout_columns_and_aspect() -> None:
    assert default_columns(1) == 3 and default_columns(9) == 3 and default_columns(10) == 4
    assert thumb_size((1080, 1920)) == (202, 360)
    assert thumb_size((1920, 1080)) == (360, 202)
    assert thumb_size((1080, 1080)) == (360, 360)
    assert sheet_layout(2, (1080, 1920)).columns == 2  # never wider than the scene count
    twelve = sheet_layout(12, (1080, 1920))
    assert (twelve.columns, twelve.rows) == (4, 3)
    assert sheet_layout(12, (1080, 1920), columns=6).rows == 2
    with pytest.raises(ValueError):
        sheet_layout(0, (10, 10))


def test_labels() -> None:
    assert moment_label(2, 3.44) == "Scene 2 · 0:03.4"
    assert moment_label(10, 59.96) == "Scene 10 · 1:00.0"
    assert moment_label(1, 125.25) == "Scene 1 · 2:05.2"


def test_not_a_video_is_a_value_error(tmp_path: Path) -> None:
    audio_only = tmp_path / "a.mp4"
    with av.open(str(audio_only), "w") as container:
        container.add_stream("aac", rate=48000)
    with pytest.raises((ValueError, av.FFmpegError)):
        contact_sheet(audio_only, [(1, 0.0)], tmp_path / "x.jpg")
    assert not (tmp_path / "x.jpg").exists()
