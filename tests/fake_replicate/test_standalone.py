"""The fake out of process: `python -m tools.fake_replicate`, driven by its control endpoints."""

from __future__ import annotations

import asyncio
import io

import httpx
import replicate
from PIL import Image
from replicate.exceptions import ReplicateError

from tools.fake_replicate import DeliveryTransport
from tools.fake_replicate.process import FakeProcess


async def test_subprocess_serves_the_api_and_its_controls() -> None:
    fake = FakeProcess(token="r8_proc", latency_scale=0.01, resolution_divisor=8, seed=3)
    # Started in a thread: it blocks until the child prints its base URL.
    base_url = await asyncio.to_thread(fake.start)
    try:
        assert base_url.startswith("http://127.0.0.1:")
        client = replicate.Client(
            api_token="r8_proc", base_url=base_url, transport=DeliveryTransport(base_url)
        )
        client.poll_interval = 0.02
        # A full round trip: create, wait, read the output through the delivery transport.
        output = await client.async_run(
            "black-forest-labs/flux-schnell", input={"prompt": "x", "aspect_ratio": "16:9"}
        )
        image = Image.open(io.BytesIO(await output[0].aread()))
        assert image.size == (168, 96)
        async with httpx.AsyncClient(base_url=base_url) as control:
            # Faults change at runtime over HTTP.
            set_faults = await control.post("/_fake/faults", json={"insufficient_credit": True})
            assert set_faults.json()["insufficient_credit"] is True
            try:
                await client.async_run("black-forest-labs/flux-schnell", input={"prompt": "x"})
            except ReplicateError as e:
                assert e.status == 402
            else:
                raise AssertionError("expected a 402")
            stats = (await control.get("/_fake/stats")).json()
            assert stats["creates"] == {"black-forest-labs/flux-schnell": 1}
            assert stats["predictions_by_status"] == {"succeeded": 1}
            assert stats["downloads"] == 1
            # Reset clears predictions, counters and faults.
            await control.post("/_fake/reset")
            stats = (await control.get("/_fake/stats")).json()
            assert stats["creates_total"] == 0 and stats["predictions_by_status"] == {}
            assert (await control.get("/_fake/faults")).json()["insufficient_credit"] is False
    finally:
        # SIGTERM: the server shuts down cleanly.
        assert await asyncio.to_thread(fake.stop) == 0
