"""Uploads and the asset API through the real gateway and assets service: streaming under
the byte limit, deep validation, nothing left behind on refusal, ownership, jobs using
the assets, and the service being down."""

from __future__ import annotations

import contextlib
import hashlib
import io
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import av
import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from shared.assets import (
    DELETE,
    GET,
    INGEST,
    AssetReply,
    DeleteReply,
    DeleteRequest,
    GetReply,
    GetRequest,
    IngestRequest,
)
from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system
from tests.support.waiting import eventually
from tests.unit.test_asset_validation import (
    image_bytes,
    logo_bytes,
    png_header_only,
    ttf_bytes,
    video_bytes,
    wav_bytes,
    wav_header,
)

MiB = 1024 * 1024
LIMIT = 50 * MiB
UPLOAD = "/api/v2/upload-asset"
PRODUCT_RGB = (20, 220, 60)
LOGO_RGB = (0, 90, 255)
# 192 kHz stereo: 50 MiB of PCM is 68 s, inside the 120 s limit.
BIG_WAV_RATE, BIG_WAV_CHANNELS = 192_000, 2


@pytest_asyncio.fixture
async def assets(system: System) -> AsyncIterator[System]:
    """The system once the assets service answers (its endpoints register after start-up)."""

    async def listing() -> int:
        status, _, _ = await system.call("GET", "/api/v2/assets")
        return status

    await eventually(listing, lambda status: status == 200)
    yield system


async def upload(
    system: System,
    data: bytes | Path,
    filename: str = "file.bin",
    content_type: str = "application/octet-stream",
    kind: str | None = None,
    client_id: str = "client-a",
    path: str = UPLOAD,
) -> tuple[int, Any]:
    form = aiohttp.FormData()
    if kind is not None:
        form.add_field("kind", kind)
    if isinstance(data, Path):
        with data.open("rb") as fh:  # streamed from disk by the client, never read whole
            form.add_field("file", fh, filename=filename, content_type=content_type)
            status, body, _ = await system.call("POST", path, client_id, data=form)
    else:
        form.add_field("file", data, filename=filename, content_type=content_type)
        status, body, _ = await system.call("POST", path, client_id, data=form)
    return status, body


def stored_files(system: System) -> list[str]:
    """Every object under uploads/ and incoming/ (partial writes included)."""
    root = system.settings.video_storage_path
    return sorted(
        str(p.relative_to(root))
        for folder in ("uploads", "incoming")
        for p in (root / folder).rglob("*")
        if p.is_file()
    )


def asset_rows(system: System) -> int:
    path = system.settings.database_path.with_name("assets.db")
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM assets").fetchone()[0])


def big_wav(path: Path, size: int) -> Path:
    """A valid WAV of exactly `size` bytes (silence), written sparsely: instant to make."""
    header = wav_header(size - 44, rate=BIG_WAV_RATE, channels=BIG_WAV_CHANNELS)
    with path.open("wb") as fh:
        fh.write(header)
        fh.truncate(size)
    return path


def big_mp4(path: Path, size: int) -> Path:
    """A real H.264 MP4 (2 s, 96x64) grown to exactly `size` bytes by a trailing `free` box
    (ISO BMFF's padding box, which players and demuxers skip), written sparsely."""
    movie = video_bytes(2.0, size=(96, 64))
    padding = size - len(movie)
    assert 8 <= padding < 2**32  # a box with a 32-bit size: its 8-byte header included
    with path.open("wb") as fh:
        fh.write(movie)
        fh.write(padding.to_bytes(4, "big") + b"free")
        fh.truncate(size)
    return path


def peak_rss_reset() -> bool:
    """Reset this process's peak RSS (VmHWM); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


async def test_a_file_of_exactly_50_mib_is_stored_intact(assets: System, tmp_path: Path) -> None:
    # A 50 MiB WAV (the limit, inclusive) is uploaded as a stream.
    source = big_wav(tmp_path / "big.wav", LIMIT)
    status, body = await upload(assets, source, "big.wav", "audio/wav")
    assert status == 201, body
    assert body["bytes"] == LIMIT and body["kind"] == "audio" and body["mime_type"] == "audio/wav"
    assert body["duration_s"] == pytest.approx(LIMIT / (BIG_WAV_RATE * 4), abs=0.1)

    # The bytes served back are the bytes sent.
    expected = sha256_of(source)
    assert body["sha256"] == expected
    digest = hashlib.sha256()
    headers = assets.auth()
    async with assets.http.get(assets.base_url + body["url"], headers=headers) as response:
        assert response.status == 200 and response.content_type == "audio/wav"
        async for chunk in response.content.iter_chunked(MiB):
            digest.update(chunk)
    assert digest.hexdigest() == expected
    assert stored_files(assets) == [f"uploads/client-a/{body['asset_id']}.wav"]


async def test_one_byte_over_50_mib_is_413_without_buffering(
    assets: System, tmp_path: Path
) -> None:
    # 50 MiB + 1 byte, streamed to the in-process gateway while its peak memory is watched.
    source = big_wav(tmp_path / "over.wav", LIMIT + 1)
    measured = peak_rss_reset()
    before = memory_kib("VmRSS")
    status, body = await upload(assets, source, "over.wav", "audio/wav")
    growth_mib = (memory_kib("VmHWM" if measured else "VmRSS") - before) / 1024

    # Refused for its size, and memory did not grow by anything like the file.
    assert status == 413 and body["error"]["code"] == "payload_too_large", body
    assert str(LIMIT) in body["error"]["message"]
    assert growth_mib < 16, f"peak RSS grew by {growth_mib:.1f} MiB"
    assert stored_files(assets) == [] and asset_rows(assets) == 0


async def test_an_h264_video_of_exactly_50_mib_is_accepted_as_a_video(
    assets: System, tmp_path: Path
) -> None:
    # A 50 MiB MP4 (the limit, inclusive): H.264 frames, then a `free` box up to the limit.
    source = big_mp4(tmp_path / "big.mp4", LIMIT)
    with av.open(str(source)) as probe:
        assert probe.streams.video[0].codec_context.name == "h264"
    status, body = await upload(assets, source, "big.mp4", "video/mp4")

    # Stored as the video it is, whole: kind, type, size, frame size and duration.
    assert status == 201, body
    assert (body["kind"], body["mime_type"], body["bytes"]) == ("video", "video/mp4", LIMIT)
    assert (body["width"], body["height"]) == (96, 64)
    assert body["duration_s"] == pytest.approx(2.0, abs=0.15)
    assert body["thumbnail_url"]
    assert body["sha256"] == sha256_of(source)
    # The file and its frame thumbnail, nothing left in incoming/.
    name = f"uploads/client-a/{body['asset_id']}"
    assert stored_files(assets) == [f"{name}.mp4", f"{name}_thumb.jpg"]
    stored = assets.settings.video_storage_path / f"{name}.mp4"
    assert stored.stat().st_size == LIMIT and sha256_of(stored) == body["sha256"]


async def test_an_h264_video_one_byte_over_50_mib_is_413_and_nothing_is_stored(
    assets: System, tmp_path: Path
) -> None:
    # The same kind of file, its `free` box one byte longer: still a valid MP4 ...
    source = big_mp4(tmp_path / "over.mp4", LIMIT + 1)
    with av.open(str(source)) as probe:
        assert probe.streams.video[0].codec_context.name == "h264"
    status, body = await upload(assets, source, "over.mp4", "video/mp4")

    # ... refused for its size alone, with nothing kept: no file, no asset row.
    assert status == 413 and body["error"]["code"] == "payload_too_large", body
    assert str(LIMIT) in body["error"]["message"]
    assert stored_files(assets) == [] and asset_rows(assets) == 0
    status, page, _ = await assets.call("GET", "/api/v2/assets")
    assert status == 200 and page["items"] == []


async def test_a_body_announced_far_over_the_limit_is_refused_unread(assets: System) -> None:
    # A Content-Length far past the limit is refused from the headers alone.
    async def body() -> AsyncIterator[bytes]:
        yield b"x" * 1024

    headers = {
        **assets.auth(),
        "Content-Type": "multipart/form-data; boundary=b",
        "Content-Length": str(LIMIT * 2),
    }
    async with assets.http.post(assets.base_url + UPLOAD, data=body(), headers=headers) as r:
        assert r.status == 413
    assert stored_files(assets) == []


async def test_refused_uploads_answer_415_and_leave_nothing(assets: System) -> None:
    noisy = io.BytesIO()
    Image.effect_noise((200, 200), 60).convert("RGB").save(noisy, "PNG")
    cases: list[tuple[str, bytes, dict[str, str], str]] = [
        ("svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>", {}, "SVG"),
        ("gif", b"GIF89a" + b"\0" * 64, {}, "GIF"),
        ("truncated", noisy.getvalue()[:5000], {}, "not a readable PNG"),
        ("bomb", png_header_only(30_000, 30_000), {}, "decompression bomb"),
        ("too wide", png_header_only(8193, 8), {}, "8192"),
        ("contradiction", image_bytes(), {"kind": "font"}, "kind 'font' was declared"),
        ("lying type", wav_bytes(1), {"content_type": "image/png"}, "sent as image/png"),
        ("too long", wav_bytes(121, rate=1000), {}, "120 s"),
        ("text", b"just text, named .png", {"filename": "logo.png"}, "not a recognised"),
        ("empty", b"", {}, "empty"),
    ]
    for name, data, options, message in cases:
        # Each refusal is a 415 in the error shape, saying why.
        status, body = await upload(assets, data, **options)
        assert status == 415, (name, body)
        assert body["error"]["code"] == "unsupported_media_type", name
        assert message in body["error"]["message"], (name, body)
    # Nothing was stored or registered by any of them.
    assert stored_files(assets) == [] and asset_rows(assets) == 0


async def test_upload_answers_metadata_thumbnail_and_colours(assets: System) -> None:
    # A raw NUL in a part header is a malformed body: 400, nothing stored.
    form = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + logo_bytes() + b"\r\n--b--\r\n"
    )
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    status, body, _ = await assets.call("POST", "/api/v2/assets", data=form, headers=headers)
    assert status == 400 and "malformed" in body["error"]["message"]
    assert stored_files(assets) == []

    # A logo whose RFC 5987 name hides traversal, a bidi override, a NUL and a combining
    # accent is uploaded on the `/assets` path.
    name = quote("../../etc/\u202egnp.exe\x00 Cafe\u0301.png", safe="").encode()
    form = (
        b"--b\r\nContent-Disposition: form-data; name=kind\r\n\r\nlogo\r\n"
        b"--b\r\nContent-Disposition: form-data; name=file; filename*=UTF-8''" + name + b"\r\n"
        b"Content-Type: image/png\r\n\r\n" + logo_bytes() + b"\r\n--b--\r\n"
    )
    status, body, _ = await assets.call("POST", "/api/v2/assets", data=form, headers=headers)
    assert status == 201, body
    asset_id = body["asset_id"]
    assert body["kind"] == "logo" and body["mime_type"] == "image/png"
    assert (body["width"], body["height"], body["duration_s"]) == (120, 60, None)
    assert body["dominant_colors"] == ["#ff3366", "#1a1a2e"]
    assert body["url"] == f"/api/v2/assets/{asset_id}/content"
    assert body["thumbnail_url"] == f"/api/v2/assets/{asset_id}/thumbnail.jpg"

    # The name is display text only; storage uses the asset id.
    assert body["original_name"] == "gnp.exe Café.png"
    assert stored_files(assets) == [
        f"uploads/client-a/{asset_id}.png",
        f"uploads/client-a/{asset_id}_thumb.jpg",
    ]

    # Metadata, content and thumbnail are served to the owner.
    status, meta, _ = await assets.call("GET", f"/api/v2/assets/{asset_id}")
    assert status == 200 and meta == body
    status, content, response = await assets.call("GET", body["url"])
    assert status == 200 and content == logo_bytes()
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    status, thumb, _ = await assets.call("GET", body["thumbnail_url"])
    assert status == 200 and Image.open(io.BytesIO(thumb)).format == "JPEG"


async def test_listing_is_paginated_and_per_client(assets: System) -> None:
    # Client A uploads three assets, client B one.
    mine = []
    for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255)):
        status, body = await upload(assets, image_bytes(color=color), "p.png")
        assert status == 201
        mine.append(body["asset_id"])
    status, theirs = await upload(assets, image_bytes(), "b.png", client_id="client-b")
    assert status == 201

    # A's listing comes newest first, two per page, and holds only A's assets.
    status, page, _ = await assets.call("GET", "/api/v2/assets?limit=2")
    assert status == 200 and page["next_cursor"]
    status, rest, _ = await assets.call(
        "GET", f"/api/v2/assets?limit=2&cursor={page['next_cursor']}"
    )
    listed = [item["asset_id"] for item in page["items"] + rest["items"]]
    assert listed == mine[::-1] and rest["next_cursor"] is None

    # Filters and bad queries.
    status, audio, _ = await assets.call("GET", "/api/v2/assets?kind=audio")
    assert status == 200 and audio["items"] == []
    status, _, _ = await assets.call("GET", "/api/v2/assets?limit=0")
    assert status == 400
    status, _, _ = await assets.call("GET", "/api/v2/assets?cursor=%%%")
    assert status == 422

    # B's asset is invisible to A on every route (404, never 403), and A's to B.
    other = f"/api/v2/assets/{theirs['asset_id']}"
    for method, path in (
        ("GET", other),
        ("GET", other + "/content"),
        ("GET", other + "/thumbnail.jpg"),
        ("DELETE", other),
    ):
        status, body, _ = await assets.call(method, path)
        assert status == 404 and body["error"]["code"] == "not_found", (method, path)
    status, body, _ = await assets.call("GET", f"/api/v2/assets/{mine[0]}", "client-b")
    assert status == 404
    status, _, _ = await assets.call("GET", "/api/v2/assets/not-an-id")
    assert status == 404

    # An admin sees every client's assets.
    status, everything, _ = await assets.call("GET", "/api/v2/assets", "ops", role="admin")
    assert status == 200 and len(everything["items"]) == 4


async def test_bad_forms_are_refused_plainly(assets: System) -> None:
    # Not multipart at all: 415 saying how to send it.
    status, body, _ = await assets.call("POST", UPLOAD, json={"file": "x"})
    assert status == 415 and "multipart/form-data" in body["error"]["message"]
    # Multipart without a file: 400.
    form = aiohttp.FormData()
    form.add_field("kind", "image")
    form.add_field("other", b"x", filename="x.bin")
    status, body, _ = await assets.call("POST", UPLOAD, data=form)
    assert status == 400 and "`file`" in body["error"]["message"]
    # An unknown kind: 422.
    status, body = await upload(assets, image_bytes(), kind="sticker")
    assert status == 422 and body["error"]["code"] == "validation_error"
    assert stored_files(assets) == [] and asset_rows(assets) == 0


async def test_delete_is_refused_while_an_unfinished_job_uses_the_asset(assets: System) -> None:
    # A product image is uploaded and named by a job that is still in progress.
    status, body = await upload(assets, image_bytes(), "product.png", "image/png")
    asset_id = body["asset_id"]
    job = await assets.create_job(assets=[asset_id])

    # Deleting it now would pull it from under the job: 409 naming the job.
    status, refusal, _ = await assets.call("DELETE", f"/api/v2/assets/{asset_id}")
    assert status == 409 and refusal["error"]["details"]["jobs"] == [job["id"]]

    # Once the job is canceled the asset can go, files and all.
    await assets.wait_status(job["id"], "storyboard_ready")
    await assets.call("POST", f"/api/v2/jobs/{job['id']}/cancel")
    status, _, _ = await assets.call("DELETE", f"/api/v2/assets/{asset_id}")
    assert status == 204
    status, _, _ = await assets.call("GET", f"/api/v2/assets/{asset_id}")
    assert status == 404
    assert stored_files(assets) == [] and asset_rows(assets) == 0


async def test_uploaded_product_image_appears_in_the_storyboard(assets: System) -> None:
    # A solid green product image is uploaded and named by a brief.
    status, body = await upload(assets, image_bytes((300, 300), PRODUCT_RGB), "product.png")
    assert status == 201
    job = await assets.create_job(assets=[body["asset_id"]])
    await assets.wait_status(job["id"], "storyboard_ready")

    # The first frame carries the product's pixels.
    status, jpeg, _ = await assets.call("GET", f"/api/v2/jobs/{job['id']}/storyboard/1.jpg")
    assert status == 200
    assert _share_near(Image.open(io.BytesIO(jpeg)), PRODUCT_RGB) > 0.02


async def test_a_rendered_video_shows_the_uploaded_logo(assets: System, tmp_path: Path) -> None:
    # A logo, a product image and a font are uploaded and named by the brief.
    logo = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    logo.paste((*LOGO_RGB, 255), (10, 10, 190, 90))
    out = io.BytesIO()
    logo.save(out, "PNG")
    _, logo_asset = await upload(assets, out.getvalue(), "logo.png", kind="logo")
    _, product = await upload(assets, image_bytes((300, 300), PRODUCT_RGB), "product.png")
    _, font = await upload(assets, ttf_bytes(), "brand.ttf", kind="font")
    brand = {
        "colors": ["#ff3366", "#1a1a2e"],
        "logo_asset_id": logo_asset["asset_id"],
        "font_asset_id": font["asset_id"],
    }

    # The job is storyboarded, approved and rendered.
    job = await assets.approved_job(duration_s=5, assets=[product["asset_id"]], brand=brand)
    status, _, _ = await assets.call("POST", f"/api/v2/jobs/{job['id']}/render")
    assert status == 202
    job = await assets.wait_status(job["id"], "completed", timeout_s=120)

    # The logo's colour is on screen in the video (watermark and end card).
    status, video, _ = await assets.call("GET", job["video_url"])
    assert status == 200
    (tmp_path / "final.mp4").write_bytes(video)
    with av.open(str(tmp_path / "final.mp4")) as container:
        frames = [frame.to_image() for frame in container.decode(video=0)]
    assert max(_share_near(frame, LOGO_RGB) for frame in frames[-15:]) > 0.01


async def test_uploads_answer_503_and_store_nothing_when_assets_is_down(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # A system with no assets service at all.
    async with running_system(
        nats_server.url, tmp_path, storyboard_workers=0, renderer_workers=0, assets_workers=0
    ) as system:
        # The upload streams to storage, finds no one to validate it, and is rolled back.
        status, body = await upload(system, image_bytes(), "p.png", "image/png")
        assert status == 503 and body["error"]["code"] == "unavailable", body
        assert "nothing was stored" in body["error"]["message"]
        assert stored_files(system) == []
        # Reads say the same.
        status, body, _ = await system.call("GET", "/api/v2/assets")
        assert status == 503


async def test_video_uploads_get_a_frame_thumbnail(assets: System) -> None:
    status, body = await upload(assets, video_bytes(2.0, size=(96, 64)), "clip.mp4", "video/mp4")
    assert status == 201, body
    assert (body["kind"], body["width"], body["height"]) == ("video", 96, 64)
    assert body["thumbnail_url"] and body["dominant_colors"] == []
    name = f"uploads/client-a/{body['asset_id']}.mp4"
    assert name in stored_files(assets)
    # Range requests work on content, so players can seek.
    status, part, _ = await assets.call("GET", body["url"], headers={"Range": "bytes=0-99"})
    assert status == 206 and len(part) == 100


def _share_near(image: Image.Image, rgb: tuple[int, int, int], tolerance: int = 60) -> float:
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    distance = np.abs(pixels - np.array(rgb, dtype=np.int16)).sum(axis=-1)
    return float((distance < tolerance).mean())


async def test_the_assets_contract_over_nats(assets: System) -> None:
    # An uploaded asset, then the service asked directly, as other services would.
    status, body = await upload(assets, image_bytes(), "p.png")
    assert status == 201
    asset_id = body["asset_id"]
    bus = assets.bus

    # `assets.get` answers found assets in order and names the rest missing.
    lookup = GetRequest(client_id="client-a", asset_ids=[asset_id, "f" * 32, asset_id])
    reply = await bus.request(GET, lookup, GetReply)
    assert [a.id for a in reply.assets] == [asset_id] and reply.missing == ["f" * 32]
    reply = await bus.request(GET, lookup.model_copy(update={"client_id": "client-b"}), GetReply)
    assert reply.assets == [] and reply.missing == [asset_id, "f" * 32]

    # A retried ingest of a registered asset gets the same answer, changing nothing.
    retry = IngestRequest(
        asset_id=asset_id, client_id="client-a", temp_key=f"incoming/{asset_id}", bytes=1
    )
    again = await bus.request(INGEST, retry, AssetReply)
    assert again.asset is not None and again.asset.sha256 == body["sha256"]

    # An ingest whose upload is not in storage, and a malformed body, are refused.
    gone = retry.model_copy(update={"asset_id": "e" * 32, "temp_key": "incoming/" + "e" * 32})
    refused = await bus.request(INGEST, gone, AssetReply)
    assert refused.error is not None and refused.error.code == "invalid_request"
    raw = await bus.nc.request(INGEST, b'{"asset_id": "../x"}', timeout=5)
    malformed = AssetReply.model_validate_json(raw.data)
    assert malformed.error is not None and malformed.error.code == "invalid_request"

    # Deleting what does not exist says so.
    missing = DeleteRequest(client_id="client-a", asset_id="d" * 32)
    deleted = await bus.request(DELETE, missing, DeleteReply)
    assert deleted.error is not None and deleted.error.code == "not_found"
    assert asset_rows(assets) == 1
