"""When a storyboard cannot be made the job fails with a clear message; a failed
refinement keeps the storyboard the client already has."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.support.system import System


async def test_unusable_product_image_fails_the_job_clearly(system: System) -> None:
    # The brief names an uploaded product image whose bytes are not an image.
    uploads = Path(system.settings.video_storage_path) / "uploads" / "client-a"
    uploads.mkdir(parents=True)
    (uploads / "broken.png").write_bytes(b"this is not a png")
    job = await system.create_job(assets=["broken"])

    # The job fails with a readable reason, no stack trace.
    job = await system.wait_status(job["id"], "failed")
    assert job["error_message"].startswith("storyboard generation failed:")
    assert "Traceback" not in job["error_message"]
    assert job["storyboard"] is None

    # The gateway keeps serving.
    status, _, _ = await system.call("GET", "/api/v2/jobs")
    assert status == 200


async def test_product_image_is_composited(system: System) -> None:
    # A real product image named by the brief is used in the frames.
    uploads = Path(system.settings.video_storage_path) / "uploads" / "client-a"
    uploads.mkdir(parents=True)
    Image.new("RGB", (64, 64), (255, 0, 255)).save(uploads / "bottle.png")
    job = await system.create_job(assets=["bottle"])
    job = await system.wait_status(job["id"], "storyboard_ready")
    status, frame, _ = await system.call("GET", job["storyboard"]["scenes"][0]["image_url"])
    pixels = Image.open(io.BytesIO(frame)).convert("RGB").tobytes()
    magenta = sum(
        1
        for r, g, b in zip(pixels[0::3], pixels[1::3], pixels[2::3], strict=True)
        if r > 200 and g < 80 and b > 200
    )
    assert status == 200 and magenta > 20


async def test_failed_refinement_keeps_the_storyboard(system: System) -> None:
    # A ready storyboard whose product image breaks before the client refines a scene.
    uploads = Path(system.settings.video_storage_path) / "uploads" / "client-a"
    uploads.mkdir(parents=True)
    Image.new("RGB", (32, 32), (0, 128, 255)).save(uploads / "item.png")
    job = await system.create_job(assets=["item"])
    job = await system.wait_status(job["id"], "storyboard_ready")
    (uploads / "item.png").write_bytes(b"corrupted later")

    # The refinement fails; the job is back to storyboard_ready with the reason shown.
    await system.call(
        "POST", f"/api/v2/jobs/{job['id']}/scenes/1/refine", json={"feedback": "brighter"}
    )
    after = await system.wait_status(job["id"], "storyboard_ready")
    assert after["error_message"] and "failed" in after["error_message"]
    assert after["storyboard"] == job["storyboard"]
