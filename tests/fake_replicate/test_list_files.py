"""§5.11-12: listing with absolute `next` URLs, and uploaded files as prediction inputs."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import av
import httpx
import replicate
from PIL import Image
from replicate.helpers import FileOutput

from tests.fake_replicate.conftest import TOKEN, MakeFake, client_for
from tools.fake_replicate import MODELS, FakeReplicate

LLM = "meta/meta-llama-3-70b-instruct"
WAN = "wan-video/wan-2.1-i2v-480p"


async def test_list_pages_newest_first_with_absolute_next(make_fake: MakeFake) -> None:
    # Hour-long predictions so listing happens while nothing changes. Listing is under test
    # here, so the 230 predictions are made in-process rather than by 230 HTTP creates.
    fake = await make_fake(latency_scale=100.0)
    engine, spec = fake.state.engine, MODELS[LLM]
    created = [
        engine.create(spec, {"prompt": f"p{n}"}, {"prompt": f"p{n}"}, TOKEN).id for n in range(230)
    ]
    async with httpx.AsyncClient(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        first = (await http.get("/v1/predictions")).json()
    # 100 a page, newest first, `next` absolute on the fake's host.
    assert len(first["results"]) == 100
    assert [r["id"] for r in first["results"]] == created[::-1][:100]
    assert first["next"].startswith(f"{fake.base_url}/v1/predictions?cursor=")
    # The client walks the pages by calling `next` as given.
    client = client_for(fake)
    pages = await asyncio.to_thread(lambda: list(replicate.paginate(client.predictions.list)))
    assert [len(page.results) for page in pages] == [100, 100, 30]
    assert pages[-1].next is None
    assert [p.id for page in pages for p in page.results] == created[::-1]
    async_pages = [page async for page in replicate.async_paginate(client.predictions.async_list)]
    assert len(async_pages) == 3


async def test_list_filters_by_creation_time(client: replicate.Client, fake: FakeReplicate) -> None:
    early = await client.models.predictions.async_create(model=LLM, input={"prompt": "a"})
    late = await client.models.predictions.async_create(model=LLM, input={"prompt": "b"})
    page = await client.predictions.async_list()
    assert [p.id for p in page.results] == [late.id, early.id]
    async with httpx.AsyncClient(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        after = await http.get("/v1/predictions", params={"created_after": early.created_at})
        before = await http.get("/v1/predictions", params={"created_before": late.created_at})
        bad = await http.get("/v1/predictions", params={"cursor": "%%%"})
    assert [r["id"] for r in after.json()["results"]] == [late.id]
    assert [r["id"] for r in before.json()["results"]] == [early.id]
    assert bad.status_code == 400


def _png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


async def test_uploaded_file_is_usable_as_input(
    client: replicate.Client, fake: FakeReplicate, tmp_path: Path
) -> None:
    path = tmp_path / "product.png"
    path.write_bytes(_png((90, 160), (20, 180, 90)))
    # Upload with the client's files API (multipart `content`).
    uploaded = await asyncio.to_thread(client.files.create, path, metadata={"job": "j1"})
    assert uploaded.name == "product.png" and uploaded.size == path.stat().st_size
    assert uploaded.content_type == "image/png" and uploaded.metadata == {"job": "j1"}
    assert uploaded.urls["get"] == f"{fake.base_url}/v1/files/{uploaded.id}"
    assert uploaded.checksums["sha256"]
    fetched = await client.files.async_get(uploaded.id)
    assert fetched.id == uploaded.id
    assert [f.id for f in await client.files.async_list()] == [uploaded.id]
    # Its urls.get works as a model input; the clip starts from the uploaded picture.
    output = await client.async_run(WAN, input={"image": uploaded.urls["get"], "prompt": "zoom"})
    assert isinstance(output, FileOutput)

    with av.open(io.BytesIO(await output.aread())) as container:
        first = next(container.decode(video=0)).to_image()
    red, green, blue = first.resize((1, 1)).getpixel((0, 0))  # type: ignore[misc]
    assert green > 120 and red < 80 and blue < 130
    # The client's own upload path: a file handle with file_encoding_strategy="url".
    with path.open("rb") as handle:
        again = await asyncio.to_thread(
            client.run, WAN, input={"image": handle}, file_encoding_strategy="url"
        )
    assert isinstance(again, FileOutput)
    assert len(fake.state.store.uploads) == 2
    assert await asyncio.to_thread(client.files.delete, uploaded.id)


async def test_file_handle_as_base64_data_url(client: replicate.Client, tmp_path: Path) -> None:
    # The base64 strategy inlines small files as data URLs. (predictions.create(model=...)
    # drops file_encoding_strategy in 1.0.7 and uploads; the models namespace keeps it.)
    path = tmp_path / "frame.png"
    path.write_bytes(_png((64, 64), (200, 30, 30)))
    with path.open("rb") as handle:
        prediction = await asyncio.to_thread(
            client.models.predictions.create,
            model=WAN,
            input={"image": handle},
            file_encoding_strategy="base64",
        )
    assert prediction.input["image"].startswith("data:image/png;base64,")
    await prediction.async_wait()
    assert prediction.status == "succeeded"
