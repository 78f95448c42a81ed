"""Deep validation of uploads, without a bus: what is accepted, what is refused and why.

The media factories here are small and real (Pillow, PyAV, fontTools); the integration
tests of the asset API reuse them."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.t2CharStringPen import T2CharStringPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from PIL import Image

from services.assets.__main__ import sweep_incoming
from services.assets.colors import dominant_colors
from services.assets.formats import Refused, sniff
from services.assets.thumbnails import THUMB_PX, thumbnail_jpeg
from services.assets.validation import Inspection, inspect
from shared.assets import can_own_uploads, display_name
from shared.storage import LocalStorage

MiB = 1024 * 1024

# --------------------------------------------------------------------------- factories


def image_bytes(
    size: tuple[int, int] = (64, 48),
    color: tuple[int, ...] = (20, 220, 60),
    fmt: str = "PNG",
    mode: str = "RGB",
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, fmt)
    return out.getvalue()


def logo_bytes() -> bytes:
    """A transparent PNG with a pink and a navy block: a logo with two brand colours."""
    logo = Image.new("RGBA", (120, 60), (0, 0, 0, 0))
    logo.paste((255, 51, 102, 255), (0, 0, 60, 60))
    logo.paste((26, 26, 46, 255), (60, 10, 100, 50))
    out = io.BytesIO()
    logo.save(out, "PNG")
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares `width`x`height` with one tiny IDAT: a bomb's header is enough."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def wav_header(data_bytes: int, rate: int = 8000, channels: int = 1) -> bytes:
    """A 16-bit PCM WAV header announcing `data_bytes` of samples (append them)."""
    block = 2 * channels
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    data = b"\0\0" * int(rate * seconds)
    return wav_header(len(data), rate) + data


def audio_bytes(codec: str, fmt: str, seconds: float = 1.0, rate: int = 44100) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        size = stream.codec_context.frame_size or 1152
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono")
        for start in range(0, int(rate * seconds), size):
            samples = (np.random.default_rng(start).random((1, size)) * 4000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def video_bytes(
    seconds: float = 1.0, fps: int = 10, size: tuple[int, int] = (64, 48), fmt: str = "mp4"
) -> bytes:
    out = io.BytesIO()
    codec = "libvpx" if fmt == "webm" else "libx264"
    with av.open(out, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(round(seconds * fps)):
            pixels = np.full((size[1], size[0], 3), (index * 9) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def _builder(is_ttf: bool) -> FontBuilder:
    builder = FontBuilder(1000, isTTF=is_ttf)
    builder.setupGlyphOrder([".notdef", "A", "a"])
    builder.setupCharacterMap({ord("A"): "A", ord("a"): "a"})
    return builder


def _finish(builder: FontBuilder) -> bytes:
    builder.setupHorizontalMetrics({name: (600, 50) for name in (".notdef", "A", "a")})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Reelsmith Test", "styleName": "Regular"})
    builder.setupOS2(sTypoAscender=800, usWinAscent=800, usWinDescent=200)
    builder.setupPost()
    out = io.BytesIO()
    builder.save(out)
    return out.getvalue()


def ttf_bytes() -> bytes:
    builder = _builder(is_ttf=True)
    glyphs = {}
    for name in (".notdef", "A", "a"):
        pen = TTGlyphPen(None)
        pen.moveTo((50, 0))
        pen.lineTo((300, 700))
        pen.lineTo((550, 0))
        pen.closePath()
        glyphs[name] = pen.glyph()
    builder.setupGlyf(glyphs)
    return _finish(builder)


def otf_bytes() -> bytes:
    builder = _builder(is_ttf=False)
    charstrings = {}
    for name in (".notdef", "A", "a"):
        pen = T2CharStringPen(600, None)
        pen.moveTo((50, 0))
        pen.lineTo((300, 700))
        pen.lineTo((550, 0))
        pen.closePath()
        charstrings[name] = pen.getCharString()
    builder.setupCFF("ReelsmithTest-Regular", {"FullName": "Reelsmith Test"}, charstrings, {})
    return _finish(builder)


# --------------------------------------------------------------------------- helpers


def _inspect(
    tmp_path: Path,
    data: bytes,
    kind: str | None = None,
    mime: str | None = None,
    max_bytes: int = 50 * MiB,
) -> Inspection:
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    return inspect(path, kind, mime, max_bytes)  # type: ignore[arg-type]


def _refusal(tmp_path: Path, data: bytes, **kwargs: object) -> Refused:
    with pytest.raises(Refused) as caught:
        _inspect(tmp_path, data, **kwargs)  # type: ignore[arg-type]
    return caught.value


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    ("fmt", "ext", "mime"),
    [("PNG", "png", "image/png"), ("JPEG", "jpg", "image/jpeg"), ("WEBP", "webp", "image/webp")],
)
def test_images_are_accepted_with_size_preview_and_hash(
    tmp_path: Path, fmt: str, ext: str, mime: str
) -> None:
    # A real image of each accepted format decodes, with its size and a preview.
    data = image_bytes((640, 200), fmt=fmt)
    found = _inspect(tmp_path, data, mime=mime)
    assert (found.kind, found.format.ext, found.format.mime_type) == ("image", ext, mime)
    assert (found.width, found.height, found.bytes) == (640, 200, len(data))
    assert found.preview is not None and max(found.preview.size) <= 512
    assert len(found.sha256) == 64


def test_a_declared_logo_stays_a_logo_and_yields_its_colours(tmp_path: Path) -> None:
    found = _inspect(tmp_path, logo_bytes(), kind="logo")
    assert found.kind == "logo" and found.preview is not None
    # Transparency is not a colour: only the two blocks come out, the larger first.
    assert dominant_colors(found.preview) == ["#ff3366", "#1a1a2e"]


def test_a_thumbnail_is_a_small_jpeg_on_white(tmp_path: Path) -> None:
    found = _inspect(tmp_path, image_bytes((1600, 400), (0, 0, 255)))
    assert found.preview is not None
    thumb = Image.open(io.BytesIO(thumbnail_jpeg(found.preview)))
    assert thumb.format == "JPEG" and thumb.size == (THUMB_PX, THUMB_PX // 4)


@pytest.mark.parametrize(
    ("data", "ext", "mime"),
    [
        (wav_bytes(1.5), "wav", "audio/wav"),
        (audio_bytes("libmp3lame", "mp3"), "mp3", "audio/mpeg"),
        (audio_bytes("aac", "adts"), "aac", "audio/aac"),
        (audio_bytes("libopus", "ogg", rate=48000), "ogg", "audio/ogg"),
        (audio_bytes("aac", "ipod"), "m4a", "audio/mp4"),
    ],
    ids=["wav", "mp3", "aac", "ogg", "m4a"],
)
def test_audio_is_accepted_with_its_duration(
    tmp_path: Path, data: bytes, ext: str, mime: str
) -> None:
    found = _inspect(tmp_path, data, kind="audio")
    assert (found.kind, found.format.ext, found.format.mime_type) == ("audio", ext, mime)
    assert found.duration_s is not None and 0.9 < found.duration_s < 1.7
    assert found.preview is None and found.width is None


@pytest.mark.parametrize(("fmt", "mime"), [("mp4", "video/mp4"), ("webm", "video/webm")])
def test_video_is_accepted_with_size_duration_and_a_frame(
    tmp_path: Path, fmt: str, mime: str
) -> None:
    found = _inspect(tmp_path, video_bytes(2.0, fmt=fmt), mime=mime)
    assert (found.kind, found.format.mime_type) == ("video", mime)
    assert (found.width, found.height) == (64, 48)
    assert found.duration_s is not None and 1.9 <= found.duration_s <= 2.2
    assert found.preview is not None


@pytest.mark.parametrize(("data", "ext"), [(ttf_bytes(), "ttf"), (otf_bytes(), "otf")])
def test_fonts_are_accepted_with_a_sample_preview(tmp_path: Path, data: bytes, ext: str) -> None:
    found = _inspect(tmp_path, data, kind="font", mime="font/" + ext)
    assert (found.kind, found.format.ext) == ("font", ext)
    assert found.preview is not None


def test_a_file_of_exactly_the_limit_is_accepted_one_byte_more_is_not(tmp_path: Path) -> None:
    data = wav_bytes(1.0)
    assert _inspect(tmp_path, data, max_bytes=len(data)).bytes == len(data)
    refusal = _refusal(tmp_path, data, max_bytes=len(data) - 1)
    assert refusal.code == "payload_too_large"


# --------------------------------------------------------------------------- refused


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"GIF89a" + b"\0" * 40, "GIF is not accepted"),
        (b"%PDF-1.7\n" + b"\0" * 40, "PDF is not accepted"),
        (b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
        (b"<svg onload='alert(1)'></svg>", "does not sanitise"),
        (b"<!DOCTYPE html><html></html>", "HTML is not accepted"),
        (b"hello, world", "not a recognised media file"),
        (b"wOF2" + b"\0" * 40, "WOFF2"),
    ],
    ids=["empty", "gif", "pdf", "svg-xml", "svg", "html", "text", "woff2"],
)
def test_unaccepted_formats_are_refused_by_name(tmp_path: Path, data: bytes, expected: str) -> None:
    refusal = _refusal(tmp_path, data)
    assert refusal.code == "unsupported_media_type" and expected in refusal.message


def test_a_truncated_image_is_refused(tmp_path: Path) -> None:
    data = image_bytes((300, 300), fmt="JPEG")
    assert "not a readable JPEG" in _refusal(tmp_path, data[: len(data) // 2]).message
    noisy = Image.effect_noise((300, 300), 80).convert("RGB")
    out = io.BytesIO()
    noisy.save(out, "PNG")
    png = out.getvalue()
    assert "not a readable PNG" in _refusal(tmp_path, png[: len(png) // 2]).message


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    # 30000 x 30000 pixels declared in a file of a few hundred bytes.
    refusal = _refusal(tmp_path, png_header_only(30_000, 30_000))
    assert "decompression bomb" in refusal.message


def test_an_image_over_8192_px_on_a_side_is_refused(tmp_path: Path) -> None:
    refusal = _refusal(tmp_path, png_header_only(8193, 10))
    assert "8193x10" in refusal.message and "8192" in refusal.message


def test_media_over_120_s_is_refused(tmp_path: Path) -> None:
    refusal = _refusal(tmp_path, wav_bytes(121, rate=1000))
    assert "121.0 s" in refusal.message and "120 s" in refusal.message
    refusal = _refusal(tmp_path, video_bytes(121, fps=1, size=(16, 16)))
    assert "video is 121" in refusal.message


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_a_truncated_video_is_refused(tmp_path: Path, fmt: str) -> None:
    data = video_bytes(3.0, fmt=fmt)
    refusal = _refusal(tmp_path, data[: len(data) * 2 // 3])
    assert "truncated" in refusal.message


def test_a_truncated_wav_is_refused(tmp_path: Path) -> None:
    data = wav_bytes(2.0)
    assert "truncated" in _refusal(tmp_path, data[: len(data) // 2]).message


def test_a_corrupt_font_is_refused(tmp_path: Path) -> None:
    data = ttf_bytes()
    broken = data[:12] + b"\xff" * (len(data) - 12)
    assert "font" in _refusal(tmp_path, broken, kind="font").message


@pytest.mark.parametrize(
    ("data", "kwargs", "expected"),
    [
        (image_bytes(), {"kind": "font"}, "kind 'font' was declared but the file is a PNG image"),
        (image_bytes(), {"mime": "audio/mpeg"}, "sent as audio/mpeg"),
        (wav_bytes(1), {"kind": "video"}, "audio only"),
        (wav_bytes(1), {"mime": "image/png"}, "its content is a WAV audio"),
        (ttf_bytes(), {"kind": "logo"}, "TTF font"),
        (video_bytes(1.0), {"kind": "audio"}, "has no audio"),
        (video_bytes(1.0), {"kind": "image"}, "kind 'image' was declared"),
    ],
    ids=[
        "png-as-font",
        "png-as-mp3",
        "wav-as-video",
        "wav-as-png",
        "ttf-as-logo",
        "mute-audio",
        "mp4-as-image",
    ],
)
def test_content_that_contradicts_its_declared_type_is_refused(
    tmp_path: Path, data: bytes, kwargs: dict[str, str], expected: str
) -> None:
    assert expected in _refusal(tmp_path, data, **kwargs).message


def test_a_generic_content_type_is_no_claim(tmp_path: Path) -> None:
    found = _inspect(tmp_path, image_bytes(), mime="application/octet-stream")
    assert found.kind == "image"


def test_sniffing_tells_mp3_from_adts_and_jpeg() -> None:
    assert sniff(b"\xff\xfb\x90\x00").name == "mp3"
    assert sniff(b"\xff\xf1\x50\x80").name == "aac"
    assert sniff(b"\xff\xd8\xff\xe0").name == "jpeg"


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("logo\x00.png", "logo.png"),
        ("pa\u202egnp.exe", "pagnp.exe"),
        ("Cafe\u0301 logo.png", "Café logo.png"),
        ("..", None),
        ("", None),
        (None, None),
        ("x" * 400 + ".png", "x" * 255),
    ],
)
def test_client_file_names_are_only_ever_display_text(name: str | None, shown: str | None) -> None:
    assert display_name(name) == shown


def test_only_key_safe_client_ids_own_uploads() -> None:
    assert can_own_uploads("client-a") and can_own_uploads("acme.eu_1")
    assert not can_own_uploads("../x") and not can_own_uploads("a/b")
    assert not can_own_uploads("user@example.com") and not can_own_uploads("")


def test_abandoned_incoming_uploads_are_swept(tmp_path: Path) -> None:
    # One upload left behind an hour ago, one still streaming.
    storage = LocalStorage(tmp_path)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "old").write_bytes(b"x")
    (incoming / "new").write_bytes(b"x")
    os.utime(incoming / "old", (time.time() - 7200, time.time() - 7200))
    # Only the abandoned one goes.
    assert sweep_incoming(storage, older_than_s=3600) == 1
    assert [p.name for p in incoming.iterdir()] == ["new"]
    assert sweep_incoming(LocalStorage(tmp_path / "empty"), 3600) == 0
