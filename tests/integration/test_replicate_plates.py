"""On the replicate backend each scene has a plate: the image model's picture with the
product composited and no text. The storyboard frame is the design system's layers drawn
over it, and the clip model animates the plate, not the frame with its words."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from shared.providers.replicate.outputs import image_data_uri
from tests.integration.test_assets import upload
from tests.integration.test_replicate_pipeline import replicate_system, submit
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import creates_by_model, started_fake
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate

CLIPS = "wan-video/wan-2.1-i2v-480p"
MAGENTA = (255, 0, 255)


def png(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(out, "PNG")
    return out.getvalue()


def magenta_pixels(jpeg: bytes) -> int:
    rgb = Image.open(io.BytesIO(jpeg)).convert("RGB").tobytes()
    return sum(
        1
        for r, g, b in zip(rgb[0::3], rgb[1::3], rgb[2::3], strict=True)
        if r > 200 and g < 80 and b > 200
    )


async def test_each_scene_has_a_plate_and_its_clip_starts_from_it(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with started_fake() as fake, replicate_system(nats_server, tmp_path, fake) as system:
        # A brief with a (magenta) product image, on the replicate backend.
        status, asset = await eventually(
            lambda: upload(system, png(MAGENTA), "product.png", "image/png"),
            lambda answer: answer[0] != 503,
            timeout_s=30,
        )
        assert status == 201, asset
        job = await submit(system, assets=[asset["asset_id"]])
        job = await system.wait_status(job["id"], "storyboard_ready", timeout_s=60)
        scenes = job["storyboard"]["scenes"]
        storage = Path(system.settings.video_storage_path)

        # Every scene's plate is stored beside its frame: a JPEG of the frame's size, the
        # model's picture with the product (not on a problem beat), without the frame's
        # text; each scene's plate is its own.
        plates: dict[int, bytes] = {}
        for scene in scenes:
            assert (
                scene["plate_key"] == f"storyboards/{job['id']}/plates/scene_{scene['index']}.jpg"
            )
            plate = (storage / scene["plate_key"]).read_bytes()
            frame = (storage / scene["image_key"]).read_bytes()
            assert plate.startswith(b"\xff\xd8") and plate != frame
            with Image.open(io.BytesIO(plate)) as p, Image.open(io.BytesIO(frame)) as f:
                assert p.size == f.size
            if scene["beat"] != "problem":
                assert magenta_pixels(plate) > 20 and magenta_pixels(frame) > 20
            plates[scene["index"]] = plate
        assert len(set(plates.values())) == len(plates)

        # Approved and rendered: the clip model was given each scene's plate as its start
        # image, never the frame with words on it.
        status, _, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")
        assert status == 200
        status, _, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
        assert status == 202
        await eventually(
            lambda: _clip_count(fake), lambda n: n == len(scenes), timeout_s=60, interval_s=0.05
        )
        started = sorted(r.input["image"] for r in fake.predictions.values() if r.model == CLIPS)
        assert started == sorted(image_data_uri(plate) for plate in plates.values())
        await system.wait_status(job["id"], "completed", timeout_s=90)
        assert creates_by_model(fake)[CLIPS] == len(scenes)


async def _clip_count(fake: FakeReplicate) -> int:
    return creates_by_model(fake)[CLIPS]
