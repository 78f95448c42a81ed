"""§5.5-6: cancel, deadlines, failed predictions (model errors, E005, unreadable inputs)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import replicate
from replicate.exceptions import ModelError

from tests.fake_replicate.conftest import TOKEN, MakeFake, client_for
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate, Faults

LLM = "meta/meta-llama-3-70b-instruct"
SCHNELL = "black-forest-labs/flux-schnell"
WAN = "wan-video/wan-2.1-i2v-480p"


async def test_cancel_stops_a_running_prediction_for_good(make_fake: MakeFake) -> None:
    fake = await make_fake(latency_scale=1.0)
    client = client_for(fake)
    prediction = await client.models.predictions.async_create(model=LLM, input={"prompt": "hi"})
    # Cancel while it is still queued or running.
    await prediction.async_cancel()
    assert prediction.status == "canceled"
    assert prediction.completed_at is not None and prediction.output is None
    assert "predict_time" in prediction.metrics and "total_time" in prediction.metrics
    # Later GETs stay canceled, long after the model would have finished.
    for _ in range(3):
        again = await client.predictions.async_get(prediction.id)
        assert again.status == "canceled" and again.output is None
    assert fake.stats()["cancels"] == 1
    # wait() returns on canceled (it is terminal) and run() does not raise for it.
    await prediction.async_wait()


async def test_cancel_of_a_finished_prediction_changes_nothing(
    client: replicate.Client, fake: FakeReplicate
) -> None:
    prediction = await client.models.predictions.async_create(model=SCHNELL, input={"prompt": "x"})
    await prediction.async_wait()
    assert prediction.status == "succeeded"
    canceled = await asyncio.to_thread(client.predictions.cancel, prediction.id)
    assert canceled.status == "succeeded"
    assert canceled.output == prediction.output
    assert canceled.completed_at == prediction.completed_at
    assert fake.stats()["cancels"] == 0


async def test_hanging_prediction_stays_processing_until_canceled(make_fake: MakeFake) -> None:
    fake = await make_fake(faults=Faults(hanging_fraction=1.0))
    client = client_for(fake)
    prediction = await client.models.predictions.async_create(model=SCHNELL, input={"prompt": "x"})
    # It starts, then never moves on (far past its ~0.02 s of model time).
    await eventually(
        lambda: client.predictions.async_get(prediction.id),
        lambda p: p.status == "processing",
        timeout_s=5,
    )
    watch_until = time.monotonic() + 0.3
    while time.monotonic() < watch_until:
        assert (await client.predictions.async_get(prediction.id)).status == "processing"
    canceled = await client.predictions.async_cancel(prediction.id)
    assert canceled.status == "canceled"
    assert (await client.predictions.async_get(prediction.id)).status == "canceled"


async def test_cancel_after_deadline_aborts_or_cancels(make_fake: MakeFake) -> None:
    # Cancel-After is scaled like model time: 5 s x 0.01 = 50 ms.
    fake = await make_fake(latency_scale=0.01)
    async with httpx.AsyncClient(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        # A clip queues for ~9 s x 0.01: the deadline passes before it starts -> aborted.
        queued = await http.post(
            f"/v1/models/{WAN}/predictions",
            json={"input": {"image": "https://example.invalid/a.png"}},
            headers={"Cancel-After": "5s"},
        )
        assert queued.json()["deadline"] is not None
        # A prediction that starts but never ends is canceled at its deadline.
        fake.set_faults(Faults(hanging_fraction=1.0))
        running = await http.post(
            f"/v1/models/{LLM}/predictions",
            json={"input": {"prompt": "hi"}},
            headers={"Cancel-After": "0h0m5s"},
        )
        # Deadlines under 5 s, or not durations, are refused.
        for bad in ("2s", "soon"):
            refused = await http.post(
                f"/v1/models/{LLM}/predictions",
                json={"input": {"prompt": "hi"}},
                headers={"Cancel-After": bad},
            )
            assert refused.status_code == 400

        async def status(prediction_id: str) -> str:
            response = await http.get(f"/v1/predictions/{prediction_id}")
            return str(response.json()["status"])

        ended = ("aborted", "canceled", "succeeded", "failed")
        aborted = await eventually(lambda: status(queued.json()["id"]), lambda s: s in ended)
        canceled = await eventually(lambda: status(running.json()["id"]), lambda s: s in ended)
    # aborted is new (2025-10); the 1.0.7 client cannot parse it, so raw HTTP here.
    assert aborted == "aborted"
    assert canceled == "canceled"
    assert fake.predictions[running.json()["id"]].started_at is not None


async def test_failed_prediction_raises_model_error_with_logs(make_fake: MakeFake) -> None:
    fake = await make_fake(faults=Faults(failed_fraction=1.0))
    client = client_for(fake)
    with pytest.raises(ModelError) as raised:
        await asyncio.to_thread(client.run, SCHNELL, input={"prompt": "x"})
    prediction = raised.value.prediction
    assert prediction.status == "failed"
    assert "CUDA out of memory" in prediction.error
    assert "Traceback (most recent call last)" in prediction.logs
    assert "torch.OutOfMemoryError" in prediction.logs
    assert prediction.completed_at is not None and prediction.metrics["predict_time"] >= 0
    # The async API raises the same.
    with pytest.raises(ModelError):
        await client.async_run(SCHNELL, input={"prompt": "x"})


async def test_content_policy_failure_is_e005(make_fake: MakeFake) -> None:
    fake = await make_fake(faults=Faults(content_policy_fraction=1.0))
    client = client_for(fake)
    with pytest.raises(ModelError) as raised:
        await client.async_run(SCHNELL, input={"prompt": "x"})
    assert raised.value.prediction.error == "The input or output was flagged as sensitive. (E005)"
    assert str(raised.value) == raised.value.prediction.error
    assert "Traceback" in raised.value.prediction.logs


async def test_unreachable_or_unreadable_input_fails_the_prediction(
    client: replicate.Client,
) -> None:
    # Nothing listens on port 9 of loopback: the download fails.
    with pytest.raises(ModelError) as raised:
        await client.async_run(WAN, input={"image": "http://127.0.0.1:9/frame.png"})
    assert raised.value.prediction.error.startswith("Could not download input image")
    # An expired/unknown delivery URL is a 404 from the fake itself.
    with pytest.raises(ModelError) as missing:
        await client.async_run(WAN, input={"image": "https://replicate.delivery/xezq/nope/a.png"})
    assert "404" in missing.value.prediction.error
    # Bytes that are not an image fail the way PIL does.
    with pytest.raises(ModelError) as garbage:
        await client.async_run(WAN, input={"image": "data:image/png;base64,aGVsbG8="})
    assert "cannot identify image file" in garbage.value.prediction.error
