"""§5.7-8: 429s (create not retried, GET retried per Retry-After), per-token limits, low credit,
5xx (503/504 retried on GET, 500/502 raised, POST never retried, HTML bodies), 402."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.fake_replicate.conftest import TOKEN, MakeFake, client_for
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate, Faults

SCHNELL = "black-forest-labs/flux-schnell"
INPUT = {"prompt": "x"}


def _http(fake: FakeReplicate, token: str = TOKEN) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=fake.base_url, headers={"Authorization": f"Bearer {token}"})


async def _clear_faults_after_first(fake: FakeReplicate, counter: str) -> None:
    """Let exactly the first injected fault of a kind through, then stop injecting."""

    async def injected() -> int:
        return int(fake.stats()["faults_injected"].get(counter, 0))

    await eventually(injected, lambda n: n >= 1, timeout_s=10, interval_s=0.005)
    fake.set_faults(Faults())


async def test_429_on_create_is_not_retried(make_fake: MakeFake) -> None:
    fake = await make_fake(faults=Faults(create_429_fraction=1.0, retry_after_s=3))
    with pytest.raises(ReplicateError) as raised:
        await client_for(fake).models.predictions.async_create(model=SCHNELL, input=INPUT)
    assert raised.value.status == 429
    assert raised.value.detail == "Request was throttled. Your rate limit resets in ~3s."
    # One request only: the client never retries a POST.
    assert fake.stats()["requests_total"] == 1 and fake.stats()["creates_total"] == 0
    async with _http(fake) as http:
        response = await http.post(f"/v1/models/{SCHNELL}/predictions", json={"input": INPUT})
    assert response.headers["Retry-After"] == "3"
    assert response.json()["retry_after"] == 3 and response.json()["status"] == 429


async def test_429_on_get_is_retried_after_retry_after(make_fake: MakeFake) -> None:
    fake = await make_fake()
    client = client_for(fake)
    prediction = await client.models.predictions.async_create(model=SCHNELL, input=INPUT)
    fake.set_faults(Faults(get_429_fraction=1.0, retry_after_s=1))
    clearing = asyncio.create_task(_clear_faults_after_first(fake, "get_429"))
    started = time.monotonic()
    # The sync client (in a thread, as the fake runs on this loop) sleeps Retry-After, retries.
    got = await asyncio.to_thread(client.predictions.get, prediction.id)
    elapsed = time.monotonic() - started
    await clearing
    assert got.id == prediction.id
    assert 0.9 <= elapsed < 5
    assert fake.stats()["responses_by_status"]["429"] >= 1


@pytest.mark.parametrize("status", [503, 504])
async def test_503_504_on_get_are_retried(make_fake: MakeFake, status: int) -> None:
    fake = await make_fake()
    client = client_for(fake)
    prediction = await client.models.predictions.async_create(model=SCHNELL, input=INPUT)
    fake.set_faults(Faults(get_5xx_fraction=1.0, status_5xx=(status,)))
    clearing = asyncio.create_task(_clear_faults_after_first(fake, f"get_{status}"))
    got = await client.predictions.async_get(prediction.id)
    await clearing
    assert got.id == prediction.id
    assert fake.stats()["responses_by_status"][str(status)] >= 1


@pytest.mark.parametrize("status", [500, 502])
async def test_500_502_on_get_are_raised(make_fake: MakeFake, status: int) -> None:
    fake = await make_fake()
    client = client_for(fake)
    prediction = await client.models.predictions.async_create(model=SCHNELL, input=INPUT)
    fake.set_faults(Faults(get_5xx_fraction=1.0, status_5xx=(status,)))
    before = fake.stats()["requests_total"]
    with pytest.raises(ReplicateError) as raised:
        await asyncio.to_thread(client.predictions.get, prediction.id)
    assert raised.value.status == status
    assert raised.value.title is not None  # a problem+json body
    assert fake.stats()["requests_total"] == before + 1


async def test_html_5xx_body_leaves_only_the_status(make_fake: MakeFake) -> None:
    fake = await make_fake(faults=Faults(get_5xx_fraction=1.0, status_5xx=(502,), html_errors=True))
    with pytest.raises(ReplicateError) as raised:
        await client_for(fake).predictions.async_get("anything")
    assert raised.value.status == 502
    assert raised.value.title is None and raised.value.detail is None
    async with _http(fake) as http:
        response = await http.get("/v1/predictions")
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text


async def test_5xx_on_create_is_not_retried_and_may_have_created(make_fake: MakeFake) -> None:
    fake = await make_fake(faults=Faults(create_5xx_fraction=1.0, status_5xx=(503,)))
    client = client_for(fake)
    with pytest.raises(ReplicateError) as raised:
        await client.models.predictions.async_create(model=SCHNELL, input=INPUT)
    assert raised.value.status == 503
    assert fake.stats()["requests_total"] == 1 and not fake.predictions
    # A lost response: the prediction exists although the caller saw a 503; a retry by the
    # caller makes a duplicate, which create_count exposes.
    fake.set_faults(Faults(create_5xx_fraction=1.0, status_5xx=(502,), create_5xx_creates=True))
    with pytest.raises(ReplicateError):
        await client.models.predictions.async_create(model=SCHNELL, input=INPUT)
    fake.set_faults(Faults())
    retried = await client.models.predictions.async_create(model=SCHNELL, input=INPUT)
    assert len(fake.predictions) == 2
    assert fake.predictions[retried.id].create_count == 2


async def test_insufficient_credit_is_a_402(make_fake: MakeFake) -> None:
    fake = await make_fake(faults=Faults(insufficient_credit=True))
    with pytest.raises(ReplicateError) as raised:
        await client_for(fake).async_run(SCHNELL, input=INPUT)
    assert raised.value.status == 402
    assert raised.value.title == "Insufficient credit"
    assert "purchase credit" in (raised.value.detail or "")


async def test_per_token_per_minute_limits(make_fake: MakeFake) -> None:
    fake = await make_fake(
        create_limit_per_min=3, other_limit_per_min=4, extra_tokens=("r8_second",)
    )
    async with _http(fake) as http, _http(fake, "r8_second") as second:
        create = f"/v1/models/{SCHNELL}/predictions"
        answers = [(await http.post(create, json={"input": INPUT})) for _ in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
        throttled = answers[-1]
        assert 50 <= int(throttled.headers["Retry-After"]) <= 60
        assert throttled.json()["detail"].startswith("Request was throttled.")
        # Other endpoints have their own bucket; another token has its own limits.
        gets = [(await http.get("/v1/predictions")).status_code for _ in range(5)]
        assert gets == [200, 200, 200, 200, 429]
        assert (await second.post(create, json={"input": INPUT})).status_code == 201
    assert fake.stats()["rate_limited"] == {"create": 1, "other": 1}


async def test_low_credit_mode_allows_6_creates_a_minute(make_fake: MakeFake) -> None:
    fake = await make_fake(faults=Faults(low_credit=True))
    client: replicate.Client = client_for(fake)
    for _ in range(6):
        await client.models.predictions.async_create(model=SCHNELL, input=INPUT)
    with pytest.raises(ReplicateError) as raised:
        await client.models.predictions.async_create(model=SCHNELL, input=INPUT)
    assert raised.value.status == 429
    assert fake.stats()["creates_total"] == 6


async def test_faults_are_deterministic_for_a_seed(make_fake: MakeFake) -> None:
    async def pattern(seed: int) -> list[int]:
        fake = await make_fake(seed=seed, faults=Faults(get_5xx_fraction=0.5, status_5xx=(500,)))
        async with _http(fake) as http:
            return [(await http.get("/v1/predictions")).status_code for _ in range(20)]

    first, again, other = await pattern(3), await pattern(3), await pattern(4)
    assert first == again and first != other
    assert 500 in first and 200 in first
