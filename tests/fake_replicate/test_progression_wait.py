"""§5.3-4: starting -> processing -> succeeded over time, the versions endpoint, `Prefer: wait`."""

from __future__ import annotations

import asyncio
import itertools
import time

import httpx
import replicate
from replicate.helpers import FileOutput

from tests.fake_replicate.conftest import TOKEN, MakeFake, client_for
from tools.fake_replicate import Faults
from tools.fake_replicate.catalog import MUSICGEN

SCHNELL = "black-forest-labs/flux-schnell"
PROMPT = {"prompt": "a lighthouse at dusk", "num_inference_steps": 4}


async def test_status_moves_through_starting_processing_succeeded(make_fake: MakeFake) -> None:
    # Slow enough (~2 s model time x 0.4) to watch every phase.
    fake = await make_fake(latency_scale=0.4)
    client = client_for(fake)
    prediction = await client.models.predictions.async_create(model=SCHNELL, input=PROMPT)
    seen: list[tuple[str, str]] = []
    while prediction.status not in ("succeeded", "failed", "canceled"):
        await asyncio.sleep(0.01)
        await prediction.async_reload()
        seen.append((prediction.status, prediction.logs or ""))
        if prediction.status == "starting":
            # Queued: no start time, no output, no metrics yet.
            assert prediction.started_at is None and prediction.output is None
            assert not prediction.metrics
    statuses = [status for status, _ in seen]
    # Each phase appears, in order, and only once.
    assert [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s] == [
        "starting",
        "processing",
        "succeeded",
    ]
    # Logs grow while processing, with tqdm lines the client's progress parser reads.
    processing_logs = [logs for status, logs in seen if status == "processing"]
    assert len(set(processing_logs)) >= 3
    assert all(b.startswith(a) for a, b in itertools.pairwise(processing_logs))
    assert prediction.progress is not None and prediction.progress.total == 4
    assert prediction.progress.percentage == 1.0
    assert prediction.started_at and prediction.completed_at
    assert prediction.started_at > prediction.created_at
    assert prediction.metrics["predict_time"] > 0
    assert prediction.metrics["total_time"] > prediction.metrics["predict_time"]
    assert isinstance(prediction.output, list) and len(prediction.output) == 1
    assert fake.predictions[prediction.id].status == "succeeded"


async def test_run_with_version_ref_calls_the_versions_endpoint(
    client: replicate.Client, http: httpx.AsyncClient
) -> None:
    ref = f"meta/musicgen:{MUSICGEN.version_id}"
    output = await asyncio.to_thread(client.run, ref, input={"prompt": "lofi", "duration": 1})
    assert isinstance(output, FileOutput) and output.url.endswith(".wav")
    output = await client.async_run(ref, input={"prompt": "lofi", "duration": 1})
    assert isinstance(output, FileOutput)
    version = await http.get(f"/v1/models/meta/musicgen/versions/{MUSICGEN.version_id}")
    body = version.json()
    assert body["id"] == MUSICGEN.version_id and body["cog_version"]
    assert "prompt" in body["openapi_schema"]["components"]["schemas"]["Input"]["properties"]


async def test_prefer_wait_returns_the_finished_prediction(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"/v1/models/{SCHNELL}/predictions",
        json={"input": PROMPT},
        headers={"Prefer": "wait=5"},
    )
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "wait=5"
    body = response.json()
    assert body["status"] == "succeeded"
    assert body["output"][0].startswith("https://replicate.delivery/xezq/")
    assert body["metrics"]["predict_time"] > 0


async def test_run_waits_and_returns_file_outputs(client: replicate.Client) -> None:
    output = await client.async_run(SCHNELL, input=PROMPT)
    assert isinstance(output, list) and isinstance(output[0], FileOutput)
    output = await asyncio.to_thread(client.run, SCHNELL, input=PROMPT, wait=10)
    assert isinstance(output[0], FileOutput)


async def test_prefer_wait_quirk_processing_with_full_output(make_fake: MakeFake) -> None:
    # The real API answers as soon as the files exist: `processing`, output complete.
    fake = await make_fake(faults=Faults(sync_processing_fraction=1.0))
    async with httpx.AsyncClient(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        response = await http.post(
            f"/v1/models/{SCHNELL}/predictions", json={"input": PROMPT}, headers={"Prefer": "wait"}
        )
    body = response.json()
    assert response.headers["Preference-Applied"] == "wait"
    assert body["status"] == "processing" and body["completed_at"] is None
    assert len(body["output"]) == 1
    # `run` does not poll then (status != starting) and still gives the files.
    output = await client_for(fake).async_run(SCHNELL, input=PROMPT)
    assert isinstance(output[0], FileOutput) and await output[0].aread()


async def test_prefer_wait_timeout_reports_starting_and_run_polls(make_fake: MakeFake) -> None:
    # wait=1 held for 1 x 0.02 s, far shorter than the model: the answer says `starting`.
    fake = await make_fake(latency_scale=0.05, max_wait_scale=0.02)
    async with httpx.AsyncClient(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        response = await http.post(
            f"/v1/models/{SCHNELL}/predictions",
            json={"input": PROMPT},
            headers={"Prefer": "wait=1"},
        )
    assert response.status_code == 201 and response.json()["status"] == "starting"
    assert response.json()["output"] is None
    # `run` sees `starting`, polls, and returns the output.
    client = client_for(fake)
    output = await asyncio.to_thread(client.run, SCHNELL, input=PROMPT, wait=1)
    assert isinstance(output[0], FileOutput)
    assert fake.stats()["gets"] >= 1


async def test_prefer_wait_timeout_as_processing_exposes_the_client_bug(
    make_fake: MakeFake,
) -> None:
    # replicate-python #385: a `processing` answer without output makes run() return None.
    fake = await make_fake(
        latency_scale=0.05, max_wait_scale=0.02, faults=Faults(sync_timeout_status="processing")
    )
    output = await client_for(fake).async_run(SCHNELL, input=PROMPT, wait=1)
    assert output is None


async def test_prefer_wait_is_clamped_to_1_60_and_scaled(make_fake: MakeFake) -> None:
    # The LLM takes ~3 s x 2.0 here; a hold of 60 s x 0.02 = 1.2 s ends first.
    fake = await make_fake(latency_scale=2.0, max_wait_scale=0.02)
    llm = "/v1/models/meta/meta-llama-3-70b-instruct/predictions"
    async with httpx.AsyncClient(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        started = time.monotonic()
        long = await http.post(
            llm, json={"input": {"prompt": "hi"}}, headers={"Prefer": "wait=600"}
        )
        held = time.monotonic() - started
        short = await http.post(llm, json={"input": {"prompt": "hi"}}, headers={"Prefer": "wait=0"})
    assert long.headers["Preference-Applied"] == "wait=60"
    assert short.headers["Preference-Applied"] == "wait=1"
    assert 1.1 < held < 3
    assert long.json()["status"] == "starting" and short.json()["status"] == "starting"
