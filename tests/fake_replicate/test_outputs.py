"""§5.9: https outputs as FileOutput read through the delivery transport, expiry, data: URIs,
slow and failing downloads, the transport's pass-through."""

from __future__ import annotations

import asyncio
import base64
import io
import time

import httpx
import pytest
import replicate
from PIL import Image
from replicate.helpers import FileOutput

from tests.fake_replicate.conftest import TOKEN, MakeFake, client_for
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate, Faults, rewrite_delivery_url

SCHNELL = "black-forest-labs/flux-schnell"
PRO = "black-forest-labs/flux-1.1-pro"


async def test_outputs_are_file_outputs_read_sync_and_async(client: replicate.Client) -> None:
    output = await client.async_run(SCHNELL, input={"prompt": "x", "output_format": "png"})
    assert isinstance(output[0], FileOutput)
    assert output[0].url.startswith("https://replicate.delivery/xezq/")
    assert output[0].url.endswith("/out-0.png")
    async_bytes = await output[0].aread()
    sync_bytes = await asyncio.to_thread(output[0].read)
    assert async_bytes == sync_bytes
    assert Image.open(io.BytesIO(sync_bytes)).format == "PNG"
    # Iterating a FileOutput streams the same bytes.
    chunks = await asyncio.to_thread(lambda: b"".join(output[0]))
    assert chunks == sync_bytes


async def test_outputs_expire_after_the_ttl(make_fake: MakeFake) -> None:
    fake = await make_fake(output_ttl_s=0.3)
    client = client_for(fake)
    prediction = await client.models.predictions.async_create(model=PRO, input={"prompt": "x"})
    await prediction.async_wait()
    file_output = FileOutput(prediction.output, client)
    assert await file_output.aread()

    async with httpx.AsyncClient(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        # (The client's Prediction model drops `data_removed`, so raw HTTP here.)
        async def prediction_json() -> dict[str, object]:
            return dict((await http.get(f"/v1/predictions/{prediction.id}")).json())

        expired = await eventually(prediction_json, lambda p: p["data_removed"], timeout_s=5)
    # The prediction keeps `output` but as null; inputs and logs are gone too.
    assert "output" in expired and expired["output"] is None
    assert expired["status"] == "succeeded"
    assert expired["input"] == {} and expired["logs"] == ""
    assert (await client.predictions.async_get(prediction.id)).output is None
    # The file is gone: the client's read raises httpx's error (not ReplicateError).
    with pytest.raises(httpx.HTTPStatusError) as raised:
        await asyncio.to_thread(file_output.read)
    assert raised.value.response.status_code == 404
    with pytest.raises(httpx.HTTPStatusError):
        await file_output.aread()


@pytest.mark.parametrize("mode", ["sync", "always"])
async def test_data_uri_outputs(make_fake: MakeFake, mode: str) -> None:
    fake = await make_fake(data_uri_outputs=mode)
    client = client_for(fake)
    output = await client.async_run(PRO, input={"prompt": "x", "output_format": "jpg"})
    assert isinstance(output, FileOutput) and output.url.startswith("data:image/jpeg;base64,")
    data = await output.aread()
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    # "sync" only changes `Prefer: wait` answers; polling still shows delivery URLs.
    polled = await client.predictions.async_create(model=PRO, input={"prompt": "x"})
    await polled.async_wait()
    expected = "data:" if mode == "always" else "https://replicate.delivery/"
    assert polled.output.startswith(expected)


async def test_slow_download_takes_its_time(make_fake: MakeFake) -> None:
    fake = await make_fake()
    client = client_for(fake)
    output = await client.async_run(PRO, input={"prompt": "x", "output_format": "png"})
    size = len(await output.aread())
    rate = size * 2  # bytes a second: the file takes ~0.5 s
    fake.set_faults(Faults(slow_download_bytes_per_s=rate))
    started = time.monotonic()
    data = await output.aread()
    assert len(data) == size
    assert time.monotonic() - started >= 0.4


async def test_download_faults_429_retried_500_raised(make_fake: MakeFake) -> None:
    fake = await make_fake()
    client = client_for(fake)
    output = await client.async_run(PRO, input={"prompt": "x"})
    fake.set_faults(Faults(download_5xx_fraction=1.0, status_5xx=(500,)))
    with pytest.raises(httpx.HTTPStatusError) as raised:
        await output.aread()
    assert raised.value.response.status_code == 500
    # A 429 on the download is retried by the client's transport after Retry-After.
    fake.set_faults(Faults(download_429_fraction=1.0, retry_after_s=0))

    async def stop_injecting() -> None:
        await eventually(
            lambda: _injected(fake, "download_429"), lambda n: n >= 2, interval_s=0.005
        )
        fake.set_faults(Faults())

    clearing = asyncio.create_task(stop_injecting())
    assert await output.aread()
    await clearing


async def _injected(fake: FakeReplicate, name: str) -> int:
    return int(fake.stats()["faults_injected"].get(name, 0))


async def test_transport_rewrites_only_delivery_urls(fake: FakeReplicate) -> None:
    base = fake.base_url
    assert str(rewrite_delivery_url("https://replicate.delivery/xezq/a/out-0.png", base)) == (
        f"{base}/xezq/a/out-0.png"
    )
    assert str(rewrite_delivery_url("https://pbxt.replicate.delivery/a/b.png?x=1", base)) == (
        f"{base}/a/b.png?x=1"
    )
    assert str(rewrite_delivery_url("https://example.com/a.png", base)) == (
        "https://example.com/a.png"
    )
    # Other URLs pass through untouched, with both httpx client types.
    transport = fake.delivery_transport()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(transport=transport, headers=headers) as sync_client:
        response = await asyncio.to_thread(sync_client.get, f"{base}/v1/predictions")
    assert response.status_code == 200
    async with httpx.AsyncClient(transport=fake.delivery_transport()) as async_client:
        missing = await async_client.get("https://replicate.delivery/xezq/none/out-0.png")
    assert missing.status_code == 404
    assert fake.stats()["requests_total"] == 2


async def test_control_endpoints_out_of_process_style(fake: FakeReplicate) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as http:
        set_faults = await http.post("/_fake/faults", json={"create_429_fraction": 1.0})
        assert set_faults.status_code == 200
        assert fake.faults.create_429_fraction == 1.0
        bad = await http.post("/_fake/faults", json={"create_429_fraction": 3})
        assert bad.status_code == 422 and "error" in bad.json()
        created = await http.post(
            f"/v1/models/{PRO}/predictions",
            json={"input": {"prompt": "x"}},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert created.status_code == 429
        stats = (await http.get("/_fake/stats")).json()
        assert stats["faults_injected"] == {"create_429": 1}
        assert (await http.post("/_fake/reset")).json() == {"reset": True}
        assert fake.faults == Faults() and fake.stats()["faults_injected"] == {}


async def test_data_url_inputs_inline_up_to_256_kb(client: replicate.Client) -> None:
    image = Image.new("RGB", (64, 112), (200, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    small = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    output = await client.async_run(
        "wan-video/wan-2.1-i2v-480p", input={"image": small, "prompt": "zoom"}
    )
    assert isinstance(output, FileOutput) and output.url.endswith(".mp4")
    big = "data:image/png;base64," + base64.b64encode(b"\0" * (257 * 1024)).decode()
    with pytest.raises(replicate.exceptions.ReplicateError) as raised:
        await client.async_run("wan-video/wan-2.1-i2v-480p", input={"image": big})
    assert raised.value.status == 422
    assert "POST /v1/files" in (raised.value.detail or "")
