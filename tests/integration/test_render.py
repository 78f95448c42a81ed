"""An approved storyboard becomes a real video: rendered, downloaded, seekable, exported."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import av
import numpy as np
from PIL import Image

from tests.integration.test_assets import upload
from tests.support.system import System
from tests.support.waiting import eventually

FPS = 30


def _frames_at(path: Path, times: list[float]) -> list[np.ndarray]:
    """Decoded RGB frames nearest to each time (seconds)."""
    wanted = sorted(times)
    found: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if wanted and frame.time is not None and frame.time >= wanted[0]:
                found.append(frame.to_ndarray(format="rgb24").astype(np.int16))
                wanted.pop(0)
    return found


async def _download(system: System, path: str, target: Path, **kwargs: object) -> Path:
    status, body, response = await system.call("GET", path, **kwargs)
    assert status == 200, body
    assert response.headers["Accept-Ranges"] == "bytes"
    await asyncio.to_thread(target.write_bytes, body)
    return target


async def test_render_needs_an_approved_storyboard(system: System) -> None:
    # A job still being storyboarded or awaiting review cannot be rendered: 403.
    job = await system.create_job()
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    assert status == 403 and body["error"]["code"] == "forbidden"
    await system.wait_status(job["id"], "storyboard_ready")
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    assert status == 403 and "approved" in body["error"]["message"]

    # A canceled job is not renderable at all: 409.
    await system.call("POST", f"/api/v2/jobs/{job['id']}/cancel")
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    assert status == 409 and body["error"]["code"] == "conflict"

    # Nothing finished yet: no video, no poster, no export.
    for path in ("video", "poster.jpg"):
        status, _, _ = await system.call("GET", f"/api/v2/jobs/{job['id']}/{path}")
        assert status == 404
    status, _, _ = await system.call(
        "POST", f"/api/v2/jobs/{job['id']}/exports", json={"aspect": "1:1"}
    )
    assert status == 409


async def test_brief_to_downloaded_video(system: System, tmp_path: Path) -> None:
    # An approved 10 s storyboard in two variations is rendered.
    job = await system.approved_job(duration_s=10, variations=2)
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    assert status == 202 and body["status"] == "rendering"
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    assert status == 409
    job = await system.wait_status(job["id"], "completed", timeout_s=120)
    assert job["progress"]["percent"] == 100
    assert job["video_url"] == f"/api/v2/jobs/{job['id']}/video?variation=1"
    outputs = {o["variation"]: o for o in job["outputs"]}
    assert sorted(outputs) == [1, 2]
    assert outputs[1]["key"] == f"videos/{job['id']}/final.mp4"
    assert outputs[2]["key"] == f"videos/{job['id']}/v2/final.mp4"

    # The download is H.264 yuv420p + AAC at the platform's (scaled) size, 30 fps, 10 s.
    video = await _download(system, job["video_url"], tmp_path / "v1.mp4")
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (108, 192)
        assert round(float(stream.average_rate)) == FPS
        assert abs(float(container.duration) / av.time_base - 10) <= 0.2
        assert container.streams.audio and container.streams.audio[0].codec_context.name == "aac"
    assert outputs[1]["width"] == 108 and outputs[1]["height"] == 192

    # Scenes differ from one another, and the two variations differ from each other.
    scenes = job["storyboard"]["scenes"]
    first_mid = scenes[0]["duration_s"] / 2
    last_mid = 10 - scenes[-1]["duration_s"] / 2
    start, end = _frames_at(video, [first_mid, last_mid])
    assert np.abs(start - end).mean() > 10
    other = await _download(system, outputs[2]["url"], tmp_path / "v2.mp4")
    (alt,) = _frames_at(other, [first_mid])
    assert np.abs(start - alt).mean() > 3

    # The poster is a JPEG.
    status, poster, response = await system.call("GET", outputs[1]["poster_url"])
    assert status == 200 and response.content_type == "image/jpeg"
    assert Image.open(io.BytesIO(poster)).size == (108, 192)

    # A Range request returns exactly the asked bytes with 206.
    whole = video.read_bytes()
    status, part, response = await system.call(
        "GET", job["video_url"], headers={"Range": "bytes=100-199"}
    )
    assert status == 206 and part == whole[100:200]
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert response.content_type == "video/mp4"

    # An unknown variation is a 404.
    status, _, _ = await system.call("GET", f"/api/v2/jobs/{job['id']}/video?variation=9")
    assert status == 404


async def test_export_reframes_for_another_platform(system: System, tmp_path: Path) -> None:
    # A finished 9:16 video is exported as 16:9.
    job = await system.approved_job(duration_s=6)
    await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    await system.wait_status(job["id"], "completed", timeout_s=120)
    status, body, _ = await system.call(
        "POST", f"/api/v2/jobs/{job['id']}/exports", json={"aspect": "16:9"}
    )
    assert status == 202 and body["progress"]["stage"] == "exporting"

    # The export appears among the outputs; the file is 16:9 and as long as the source.
    async def exported() -> list[dict[str, object]]:
        outputs = (await system.job(job["id"]))["outputs"]
        return [o for o in outputs if o["kind"] == "export"]

    (export,) = await eventually(exported, lambda found: len(found) == 1, timeout_s=60)
    assert export["aspect"] == "16:9" and export["width"] > export["height"]
    path = await _download(system, str(export["url"]), tmp_path / "export.mp4")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert abs(stream.codec_context.width / stream.codec_context.height - 16 / 9) < 0.05
        assert abs(float(container.duration) / av.time_base - 6) <= 0.25

    # A bad aspect is a 422.
    status, body, _ = await system.call(
        "POST", f"/api/v2/jobs/{job['id']}/exports", json={"aspect": "4:3"}
    )
    assert status == 422 and body["error"]["details"][0]["field"] == "aspect"


def green_video(seconds: float = 2.0, fps: int = 24) -> bytes:
    """A short clip whose pictures are unmistakable: bright green with a moving bar."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for index in range(round(seconds * fps)):
            pixels = np.zeros((120, 160, 3), np.uint8)
            pixels[:, :] = (20, 230, 40)
            pixels[:, (index * 5) % 150 : (index * 5) % 150 + 10] = (250, 250, 250)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


async def test_an_uploaded_video_becomes_a_scene_clip(system: System, tmp_path: Path) -> None:
    # A client uploads a short video and gets a storyboard.
    status, asset = await eventually(
        lambda: upload(system, green_video(), "clip.mp4", "video/mp4"),
        lambda answer: answer[0] != 503,
    )
    assert status == 201 and asset["kind"] == "video", asset
    job = await system.create_job(duration_s=10)
    job = await system.wait_status(job["id"], "storyboard_ready")
    path = f"/api/v2/jobs/{job['id']}/storyboard"

    # Naming something that is not one of its videos as a scene clip is refused.
    status, body, _ = await system.call(
        "PATCH", path, json={"scenes": [{"index": 1, "clip_asset_id": "nope"}]}
    )
    assert status == 422
    assert body["error"]["details"][0]["field"] == "scenes.0.clip_asset_id"

    # Scene 1 takes the video; the render plays it there.
    status, body, _ = await system.call(
        "PATCH", path, json={"scenes": [{"index": 1, "clip_asset_id": asset["asset_id"]}]}
    )
    assert status == 200 and body["storyboard"]["scenes"][0]["clip_asset_id"] == asset["asset_id"]
    await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")
    await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    job = await system.wait_status(job["id"], "completed", timeout_s=120)
    video = await _download(system, job["video_url"], tmp_path / "with-clip.mp4")
    middle = job["storyboard"]["scenes"][0]["duration_s"] / 2
    first, later = _frames_at(video, [middle, middle + 0.3])
    green = (first[..., 1] > 150) & (first[..., 0] < 120) & (first[..., 2] < 120)
    assert green.mean() > 0.2
    assert np.abs(first - later).mean() > 1  # the footage moves
