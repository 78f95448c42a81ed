"""Outputs in every shape the API gives them, and the checks a file passes before it is
kept: images decode, clips decode with the expected length and orientation."""

from __future__ import annotations

import base64
import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from replicate.client import Client
from replicate.helpers import FileOutput

from shared.providers.replicate.errors import OutputInvalid
from shared.providers.replicate.outputs import (
    check_video,
    decode_data_uri,
    image_data_uri,
    image_to_jpeg,
    last_frame_jpeg,
    output_urls,
)


def png(size: tuple[int, int] = (64, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(out, "PNG")
    return out.getvalue()


def clip(path: Path, size: tuple[int, int], frames: int, fps: int = 16) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.time_base = Fraction(1, fps)
        for n in range(frames):
            picture = np.full((size[1], size[0], 3), (n * 3) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = n
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_file_outputs_urls_and_data_uris_are_all_found() -> None:
    client = Client(api_token="r8_x")
    file = FileOutput("https://replicate.delivery/xezq/a/out-0.webp", client)
    data = "data:image/png;base64," + base64.b64encode(png()).decode()
    found = output_urls([file, "https://replicate.delivery/xezq/a/out-1.webp", [data], None])
    assert found == [
        "https://replicate.delivery/xezq/a/out-0.webp",
        "https://replicate.delivery/xezq/a/out-1.webp",
        data,
    ]
    assert output_urls("https://replicate.delivery/x/out.mp4") == [
        "https://replicate.delivery/x/out.mp4"
    ]
    # An LLM's text chunks are no files.
    assert output_urls(["{", '"scenes"']) == []
    assert decode_data_uri(data) == png()
    with pytest.raises(OutputInvalid):
        decode_data_uri("data:image/png;base64,@@@")


def test_images_are_stored_as_jpegs_covering_the_frame_size() -> None:
    jpeg = image_to_jpeg(png((300, 100)), (108, 192))
    with Image.open(io.BytesIO(jpeg)) as image:
        assert (image.format, image.size) == ("JPEG", (108, 192))
    with pytest.raises(OutputInvalid, match="not a readable image"):
        image_to_jpeg(b"<html>expired</html>", (108, 192))


def test_a_large_start_image_is_sent_inline_under_the_data_uri_limit() -> None:
    noise = np.random.default_rng(1).integers(0, 255, (1920, 1080, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "JPEG", quality=95)
    assert len(out.getvalue()) > 256 * 1024
    uri = image_data_uri(out.getvalue())
    assert uri.startswith("data:image/jpeg;base64,")
    assert len(decode_data_uri(uri)) <= 256 * 1024


def test_a_clip_must_decode_with_the_expected_length_and_orientation(tmp_path: Path) -> None:
    good = clip(tmp_path / "good.mp4", (60, 104), frames=81)
    facts = check_video(good, 81 / 16, "9:16")
    assert facts.frames == 81 and (facts.width, facts.height) == (60, 104)
    assert facts.duration_s == pytest.approx(81 / 16, abs=0.07)
    with pytest.raises(OutputInvalid, match="lasts"):
        check_video(good, 10.0, "9:16")
    with pytest.raises(OutputInvalid, match="not 16:9"):
        check_video(good, 81 / 16, "16:9")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(good.read_bytes()[:200])
    with pytest.raises(OutputInvalid):
        check_video(broken, None, None)
    # Chained clips start from the last picture of the previous one.
    with Image.open(io.BytesIO(last_frame_jpeg(good))) as last:
        assert last.size == (60, 104)
