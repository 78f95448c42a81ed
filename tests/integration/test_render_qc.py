"""QC of a real local render: every output (each variation and an export) carries the QC
measured on its file, a clean render passes, and the thumbnails its findings point at are
stored and served.

The real gateway, storyboard and renderer workers on a real nats-server; the renderer
signs each file (a development C2PA chain) and QC measures the signed file."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from services.renderer.keys import export_qc_key, render_qc_key
from shared.creative.platforms import platform_spec
from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system
from tests.support.waiting import eventually


async def _thumbnails_served(system: System, job_id: str, qc: dict[str, Any]) -> int:
    """Every finding's thumbnail: stored by the renderer, served by the gateway as a JPEG."""
    served = 0
    for finding in qc["findings"]:
        assert finding["start_s"] is not None and finding["end_s"] is not None, finding
        assert finding["thumbnail_url"], finding
        status, body, response = await system.call("GET", finding["thumbnail_url"])
        assert status == 200 and response.content_type == "image/jpeg", body
        assert Image.open(io.BytesIO(body)).format == "JPEG"
        name = finding["thumbnail_url"].rsplit("/", 1)[-1]
        stored = system.settings.video_storage_path / "videos" / job_id / "qc" / name
        assert stored.read_bytes() == body
        served += 1
    return served


async def test_every_variation_of_a_clean_render_passes_qc(system: System) -> None:
    # A 6 s TikTok ad in two variations is rendered.
    job = await system.approved_job(duration_s=6, variations=2)
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    assert status == 202, body
    job = await system.wait_status(job["id"], "completed", timeout_s=150)
    job_id = job["id"]
    renders = [o for o in job["outputs"] if o["kind"] == "render"]
    assert len(renders) == 2

    # Each variation's file was measured and passes: the platform's codec, pixel format,
    # frame rate, `moov` first, bitrate floor and loudness, nothing black or frozen, every
    # text box inside the safe zone and legible.
    delivery = platform_spec("tiktok").delivery
    for output in renders:
        qc = output["qc"]
        assert qc is not None, output
        assert qc["status"] == "pass", [f["message"] for f in qc["findings"]]
        measured = qc["measured"]
        assert measured["video_codec"] == delivery.video_codec
        assert measured["pixel_format"] == delivery.pixel_format
        assert measured["faststart"] is True
        assert measured["video_kbps"] >= delivery.min_video_kbps
        assert abs(measured["loudness_lufs"] + 14) <= 1 and measured["true_peak_dbtp"] <= -1
        assert abs(measured["duration_s"] - 6) <= 0.2
        assert measured["text_boxes_read"] > 0
        assert 0 < qc["seconds"] < 30
        # The reduced test size is noted (info), with a thumbnail of the file.
        assert "qc.resolution" in {f["check"] for f in qc["findings"]}
        assert await _thumbnails_served(system, job_id, qc) >= 1
        first = render_qc_key(job_id, output["variation"], 1).rsplit("/", 1)[-1]
        assert any(f["thumbnail_url"].endswith(first) for f in qc["findings"])

    # The checks endpoint shows the same QC per output.
    status, checks, _ = await system.call("GET", f"/api/v2/jobs/{job_id}/checks")
    assert status == 200, checks
    assert [o["qc"]["status"] for o in checks["outputs"]] == ["pass", "pass"]


async def test_an_export_is_checked_for_its_own_platform(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # Rendered at a quarter of TikTok's size, so the 16:9 export's captions (the 9:16
    # picture scaled to the height) are still big enough to read.
    async with running_system(
        nats_server.url, tmp_path, render_scale_divisor=4, frame_scale_divisor=4
    ) as system:
        job = await system.approved_job(duration_s=6)
        status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
        assert status == 202, body
        job = await system.wait_status(job["id"], "completed", timeout_s=150)
        job_id = job["id"]
        status, body, _ = await system.call(
            "POST", f"/api/v2/jobs/{job_id}/exports", json={"aspect": "16:9"}
        )
        assert status == 202, body

        async def exported() -> list[dict[str, Any]]:
            outputs = (await system.job(job_id))["outputs"]
            return [o for o in outputs if o["kind"] == "export"]

        (export,) = await eventually(exported, lambda found: len(found) == 1, timeout_s=60)

        # Measured against YouTube's spec (16:9), the render's text boxes moved with the
        # picture; it passes, and its findings' thumbnails are served.
        qc = export["qc"]
        assert qc is not None, export
        assert qc["status"] == "pass", [f["message"] for f in qc["findings"]]
        assert (qc["measured"]["width"], qc["measured"]["height"]) == (480, 270)
        assert qc["measured"]["text_boxes_read"] > 0
        notes = [f["message"] for f in qc["findings"] if f["check"] == "qc.resolution"]
        assert notes and "YouTube" in notes[0]
        await _thumbnails_served(system, job_id, qc)
        export_id = export["key"].rsplit("_", 1)[-1].removesuffix(".mp4")
        first = export_qc_key(job_id, "16:9", 1, export_id, 1).rsplit("/", 1)[-1]
        assert any(f["thumbnail_url"].endswith(first) for f in qc["findings"])
