"""§5.10: signed webhook deliveries (events filter, throttling, retries with a constant id),
the secret endpoint, and the client's validator against them."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import pytest_asyncio
import replicate
from aiohttp import web
from replicate.exceptions import ReplicateError
from replicate.webhook import (
    InvalidSignatureError,
    InvalidTimestampError,
    MissingWebhookHeaderError,
    Webhooks,
    WebhookSigningSecret,
)

from tests.fake_replicate.conftest import TOKEN, MakeFake, client_for
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate, sign

SCHNELL = "black-forest-labs/flux-schnell"
FLUX_DEV = "black-forest-labs/flux-dev"


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: str

    @property
    def status(self) -> str:
        return str(json.loads(self.body)["status"])


@dataclass
class Receiver:
    """A webhook endpoint on loopback that records every attempt."""

    url: str = ""
    attempts: list[Received] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to the first N attempts of every message
    stall_first_s: float = 0.0  # or hang this long on the first attempt of every message

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        received = Received(time.monotonic(), dict(request.headers), body)
        self.attempts.append(received)
        tries = sum(
            1 for a in self.attempts if a.headers["webhook-id"] == received.headers["webhook-id"]
        )
        if tries == 1 and self.stall_first_s:
            await asyncio.sleep(self.stall_first_s)  # a slow receiver, not synchronisation
        if tries <= self.fail_first:
            return web.Response(status=500)
        return web.Response(status=204)

    def delivered(self) -> list[Received]:
        """One entry per message, the last attempt's."""
        last: dict[str, Received] = {}
        for attempt in self.attempts:
            last[attempt.headers["webhook-id"]] = attempt
        return sorted(last.values(), key=lambda r: r.at)


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A fresh webhook receiver on a random loopback port."""
    recorder = Receiver()
    app = web.Application()
    app.router.add_post("/hook", recorder.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    recorder.url = f"http://127.0.0.1:{port}/hook"
    yield recorder
    await runner.cleanup()


async def _completed(receiver: Receiver) -> list[Received]:
    return [r for r in receiver.delivered() if r.status in ("succeeded", "failed", "canceled")]


def test_signing_reproduces_the_known_good_vector() -> None:
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


async def test_secret_endpoint(client: replicate.Client, make_fake: MakeFake) -> None:
    secret = await client.webhooks.default.async_secret()
    assert secret.key.startswith("whsec_")
    fake = await make_fake(webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    other = await asyncio.to_thread(client_for(fake).webhooks.default.secret)
    assert other.key == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def test_filtered_events_are_signed_and_validate(
    client: replicate.Client, receiver: Receiver
) -> None:
    secret = await client.webhooks.default.async_secret()
    prediction = await client.models.predictions.async_create(
        model=SCHNELL,
        input={"prompt": "x"},
        webhook=receiver.url,
        webhook_events_filter=["start", "completed"],
    )
    delivered = await eventually(lambda: _completed(receiver), timeout_s=5)
    # Exactly start and completed, in that order, each the full prediction.
    assert [r.status for r in receiver.delivered()] == ["processing", "succeeded"]
    final = json.loads(delivered[-1].body)
    assert final["id"] == prediction.id and final["output"][0].startswith("https://")
    assert final["metrics"]["predict_time"] > 0
    for received in receiver.delivered():
        assert received.headers["webhook-id"].startswith("msg_")
        assert abs(int(received.headers["webhook-timestamp"]) - time.time()) < 10
        assert received.headers["webhook-signature"].startswith("v1,")
        assert (
            Webhooks.validate(headers=received.headers, body=received.body, secret=secret) is None
        )
        # Also as an httpx.Request, the way a receiver built on httpx would pass it.
        request = httpx.Request(
            "POST", receiver.url, headers=received.headers, content=received.body.encode()
        )
        Webhooks.validate(request=request, secret=secret, tolerance=60)


async def test_validation_rejects_tampering_and_staleness(
    client: replicate.Client, receiver: Receiver
) -> None:
    secret = await client.webhooks.default.async_secret()
    await client.models.predictions.async_create(
        model=SCHNELL, input={"prompt": "x"}, webhook=receiver.url
    )
    received = (await eventually(lambda: _completed(receiver), timeout_s=5))[-1]
    # A tampered body.
    with pytest.raises(InvalidSignatureError):
        Webhooks.validate(
            headers=received.headers,
            body=received.body.replace("succeeded", "failed"),
            secret=secret,
        )
    # The wrong secret.
    wrong = WebhookSigningSecret(key="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    with pytest.raises(InvalidSignatureError):
        Webhooks.validate(headers=received.headers, body=received.body, secret=wrong)
    # A replayed (stale) delivery outside the tolerance.
    stale = {**received.headers, "webhook-timestamp": str(int(time.time()) - 600)}
    stale["webhook-signature"] = sign(
        secret.key, stale["webhook-id"], int(stale["webhook-timestamp"]), received.body
    )
    Webhooks.validate(headers=stale, body=received.body, secret=secret)  # fine without tolerance
    with pytest.raises(InvalidTimestampError):
        Webhooks.validate(headers=stale, body=received.body, secret=secret, tolerance=300)
    # Missing headers.
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        partial = {k: v for k, v in received.headers.items() if k.lower() != header}
        with pytest.raises(MissingWebhookHeaderError):
            Webhooks.validate(headers=partial, body=received.body, secret=secret)


async def test_start_only_filter_sends_one_and_closes_the_channel(
    make_fake: MakeFake, receiver: Receiver
) -> None:
    fake = await make_fake()
    prediction = await client_for(fake).models.predictions.async_create(
        model=SCHNELL, input={"prompt": "x"}, webhook=receiver.url, webhook_events_filter=["start"]
    )
    await eventually(lambda: _webhook_stats(fake), lambda s: s["delivered"] == 1)

    async def open_channels() -> int:
        return len(fake.state.webhooks.channels)

    # The prediction ends; its channel ends too, without a completed delivery.
    await eventually(open_channels, lambda n: n == 0)
    assert fake.predictions[prediction.id].status == "succeeded"
    assert [r.status for r in receiver.delivered()] == ["processing"]


async def test_default_filter_is_output_and_completed(
    client: replicate.Client, receiver: Receiver
) -> None:
    await client.models.predictions.async_create(
        model=SCHNELL, input={"prompt": "x"}, webhook=receiver.url
    )
    await eventually(lambda: _completed(receiver), timeout_s=5)
    bodies = [json.loads(r.body) for r in receiver.delivered()]
    # No `start`: every delivery already carries output; the last one is terminal.
    assert all(b["output"] for b in bodies)
    assert bodies[-1]["status"] == "succeeded" and len(bodies) == 2


async def test_output_and_logs_are_throttled_to_one_per_500ms(
    make_fake: MakeFake, receiver: Receiver
) -> None:
    # flux-dev takes ~2 s x 0.7 with a log line every ~0.1 s: many more changes than 500 ms slots.
    fake = await make_fake(latency_scale=0.7)
    client = client_for(fake)
    await client.models.predictions.async_create(
        model=FLUX_DEV,
        input={"prompt": "x", "num_inference_steps": 28},
        webhook=receiver.url,
        webhook_events_filter=["logs", "output", "completed"],
    )
    await eventually(lambda: _completed(receiver), timeout_s=10)
    delivered = receiver.delivered()
    throttled = delivered[:-1]  # all but the completed delivery
    assert len(throttled) >= 2
    # Sent >= 500 ms apart; received a little closer if one delivery was slow to connect.
    gaps = [b.at - a.at for a, b in itertools.pairwise(throttled)]
    assert min(gaps) >= 0.3, gaps
    # Logs grew 10 times, plus an output event: coalesced into fewer deliveries.
    assert len(throttled) < 11
    assert delivered[-1].status == "succeeded"


async def test_failed_deliveries_are_retried_with_the_same_id(
    make_fake: MakeFake, receiver: Receiver
) -> None:
    fake = await make_fake()
    receiver.fail_first = 2
    client = client_for(fake)
    await client.models.predictions.async_create(
        model=SCHNELL,
        input={"prompt": "x"},
        webhook=receiver.url,
        webhook_events_filter=["completed"],
    )
    await eventually(lambda: _completed(receiver), timeout_s=5)
    await eventually(lambda: _webhook_stats(fake), lambda s: s["delivered"] == 1)
    # Three attempts of one message: same id and body, the last one accepted.
    assert len(receiver.attempts) == 3
    assert len({a.headers["webhook-id"] for a in receiver.attempts}) == 1
    assert len({a.body for a in receiver.attempts}) == 1
    stats = fake.stats()["webhooks"]
    assert stats["failed_attempts"] == 2 and stats["attempts"] == 3


async def _webhook_stats(fake: FakeReplicate) -> dict[str, int]:
    return dict(fake.stats()["webhooks"])


async def test_timed_out_delivery_is_retried(make_fake: MakeFake, receiver: Receiver) -> None:
    fake = await make_fake(webhook_timeout_s=0.2)
    receiver.stall_first_s = 0.5
    client = client_for(fake)
    await client.models.predictions.async_create(
        model=SCHNELL, input={"prompt": "x"}, webhook_completed=receiver.url
    )
    # The legacy webhook_completed URL gets only the terminal state, retried after a timeout.
    await eventually(lambda: _webhook_stats(fake), lambda s: s["delivered"] == 1, timeout_s=5)
    assert len(receiver.attempts) == 2
    assert receiver.attempts[0].headers["webhook-id"] == receiver.attempts[1].headers["webhook-id"]
    assert receiver.attempts[1].status == "succeeded"


async def test_bad_webhook_parameters_are_422(client: replicate.Client) -> None:
    with pytest.raises(ReplicateError) as raised:
        await client.models.predictions.async_create(
            model=SCHNELL, input={"prompt": "x"}, webhook="not a url"
        )
    assert raised.value.status == 422
    with pytest.raises(ReplicateError) as bad_filter:
        await client.models.predictions.async_create(
            model=SCHNELL,
            input={"prompt": "x"},
            webhook="https://example.com/h",
            webhook_events_filter=["everything"],  # type: ignore[list-item]
        )
    assert bad_filter.value.status == 422


async def test_raw_secret_endpoint_needs_auth(client: replicate.Client) -> None:
    async with httpx.AsyncClient(base_url=str(client._client.base_url)) as http:
        assert (await http.get("/v1/webhooks/default/secret")).status_code == 401
        ok = await http.get(
            "/v1/webhooks/default/secret", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert ok.json()["key"].startswith("whsec_")
