"""When a storyboard cannot be made the job fails with a clear message; a failed
refinement keeps the storyboard the client already has."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.integration.test_assets import upload
from tests.support.system import System
from tests.support.waiting import eventually


def png(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(out, "PNG")
    return out.getvalue()


async def uploaded(system: System, data: bytes) -> dict[str, str]:
    """An image uploaded through the API (once the assets service answers)."""
    status, body = await eventually(
        lambda: upload(system, data, "product.png", "image/png"), lambda answer: answer[0] != 503
    )
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def stored(system: System, asset: dict[str, str]) -> Path:
    return (
        Path(system.settings.video_storage_path)
        / "uploads"
        / "client-a"
        / (asset["asset_id"] + ".png")
    )


async def test_unusable_product_image_fails_the_job_clearly(system: System) -> None:
    # A product image is uploaded, then its stored bytes are damaged (a disk fault).
    asset = await uploaded(system, png((0, 128, 255)))
    stored(system, asset).write_bytes(b"this is not a png any more")
    job = await system.create_job(assets=[asset["asset_id"]])

    # The job fails with a readable reason, no stack trace.
    job = await system.wait_status(job["id"], "failed")
    assert job["error_message"].startswith("storyboard generation failed:")
    assert "Traceback" not in job["error_message"]
    assert job["storyboard"] is None

    # The gateway keeps serving.
    status, _, _ = await system.call("GET", "/api/v2/jobs")
    assert status == 200


async def test_unknown_assets_are_refused_by_name(system: System) -> None:
    # A brief naming assets that do not exist (or are another client's) is a 422.
    mine = await uploaded(system, png((10, 10, 10)))
    status, body, _ = await system.call(
        "POST",
        "/api/v2/jobs",
        client_id="client-b",
        json={
            "campaign_id": "c",
            "prompt": "p",
            "platform": "tiktok",
            "duration_s": 10,
            "assets": [mine["asset_id"]],
            "brand": {"logo_asset_id": "nope"},
        },
    )
    assert status == 422, body
    fields = {d["field"] for d in body["error"]["details"]}
    assert fields == {"assets.0", "brand.logo_asset_id"}
    assert mine["asset_id"] in body["error"]["message"]


async def test_logo_colours_become_the_palette(system: System) -> None:
    # A brief with a logo and no colours takes its palette from the logo.
    logo = await uploaded(system, png((200, 30, 40), 128))
    job = await system.create_job(brand={"logo_asset_id": logo["asset_id"]})
    job = await system.wait_status(job["id"], "storyboard_ready")
    prompt = job["storyboard"]["scenes"][0]["visual_prompt"]
    assert any(colour.lower() in prompt.lower() for colour in logo["dominant_colors"])


async def test_product_image_is_composited(system: System) -> None:
    # A real product image named by the brief is used in the frames.
    asset = await uploaded(system, png((255, 0, 255)))
    job = await system.create_job(assets=[asset["asset_id"]])
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
    asset = await uploaded(system, png((0, 128, 255), 32))
    job = await system.create_job(assets=[asset["asset_id"]])
    job = await system.wait_status(job["id"], "storyboard_ready")
    stored(system, asset).write_bytes(b"corrupted later")

    # The refinement fails; the job is back to storyboard_ready with the reason shown.
    await system.call(
        "POST", f"/api/v2/jobs/{job['id']}/scenes/1/refine", json={"feedback": "brighter"}
    )
    after = await system.wait_status(job["id"], "storyboard_ready")
    assert after["error_message"] and "failed" in after["error_message"]
    assert after["storyboard"] == job["storyboard"]
