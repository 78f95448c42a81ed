"""`POST /webhooks/replicate` on the real gateway: signed deliveries are accepted and
republished for the workers, everything else is refused; predictions then finish on the
webhook instead of the next poll."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import nats
from aiohttp import web

from services.billing.pricing import DEFAULT_PRICING_FILE, PricingSource
from services.gateway.app import init_app
from shared.bus import Bus
from shared.providers.replicate.backend import ReplicateBackend
from shared.settings import Settings
from tests.integration.test_replicate_backend import frame_spec
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import replicate_settings, started_fake
from tests.support.system import delete_streams, settings_for
from tools.fake_replicate import sign

# The official client's known-good vector (replicate-python tests/test_webhooks.py).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_HEADERS = {
    "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "webhook-timestamp": "1614265330",
    "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}
VECTOR_BODY = '{"test": 2432232314}'
OTHER_SECRET = "whsec_b3RoZXItc2VjcmV0LW5vdC10aGUtb25lLWluLXVzZQ=="


@contextlib.asynccontextmanager
async def gateway(nats_url: str, root: Path, **overrides: Any) -> AsyncIterator[str]:
    """The real gateway app on a loopback port; yields its base URL."""
    app = init_app(settings_for(nats_url, root, **overrides))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await delete_streams(nats_url)


def signed(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": "msg_test_delivery",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, "msg_test_delivery", stamp, body),
        "Content-Type": "application/json",
    }


async def post(base_url: str, body: str, headers: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(base_url + "/webhooks/replicate", data=body.encode(), headers=headers) as r,
    ):
        return r.status, (await r.json() if r.content_type == "application/json" else None)


async def test_the_known_good_vector_passes_and_anything_else_is_refused(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # A gateway configured with the vector's secret, and a tolerance that admits its
    # 2021 timestamp (the vector is old).
    async with gateway(
        nats_server.url,
        tmp_path,
        replicate_webhook_secret=VECTOR_SECRET,
        replicate_webhook_tolerance_s=10**10,
    ) as base_url:
        # The vector's signature verifies; its body is not a prediction, so it is a 400
        # about the body, not a 401 about the signature.
        status, body = await post(base_url, VECTOR_BODY, VECTOR_HEADERS)
        assert status == 400 and body["error"]["message"] == "the body is not a prediction"

        # A tampered body, a wrong secret, missing headers: refused, in the error shape.
        status, body = await post(base_url, '{"test": 2432232315}', VECTOR_HEADERS)
        assert status == 401 and body["error"]["code"] == "unauthorized"
        status, body = await post(base_url, VECTOR_BODY, signed(OTHER_SECRET, VECTOR_BODY))
        assert status == 401 and "signature" in body["error"]["message"]
        for missing in VECTOR_HEADERS:
            partial = {k: v for k, v in VECTOR_HEADERS.items() if k != missing}
            status, body = await post(base_url, VECTOR_BODY, partial)
            assert status == 400 and body["error"]["code"] == "bad_request", missing
        garbled = {**VECTOR_HEADERS, "webhook-timestamp": "yesterday"}
        status, _ = await post(base_url, VECTOR_BODY, garbled)
        assert status == 400


async def test_a_signed_delivery_is_republished_for_the_workers(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with (
        started_fake() as fake,
        # The gateway fetches the account's signing secret from the API with its token.
        gateway(nats_server.url, tmp_path, **replicate_settings(fake)) as base_url,
    ):
        secret = fake.config.webhook_secret
        prediction = {"id": "p0abc", "model": "m/n", "status": "succeeded", "output": ["x"]}
        body = json.dumps(prediction)
        nc = await nats.connect(nats_server.url)
        try:
            heard = await nc.subscribe("replicate.prediction.p0abc")

            # A fresh, signed delivery: accepted, and the very body goes out on NATS.
            status, _ = await post(base_url, body, signed(secret, body))
            assert status == 204
            message = await heard.next_msg(timeout=5)
            assert message.data == body.encode()

            # A replay an hour later, or a delivery signed with another secret: refused.
            stale = signed(secret, body, timestamp=int(time.time()) - 3600)
            status, answer = await post(base_url, body, stale)
            assert status == 401 and "timestamp" in answer["error"]["message"]
            status, _ = await post(base_url, body, signed(OTHER_SECRET, body))
            assert status == 401
            # Nothing else went out.
            await nc.flush()
            assert heard.pending_msgs == 0
        finally:
            await nc.close()


async def test_predictions_finish_on_the_webhook_not_the_next_poll(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with (
        started_fake() as fake,
        gateway(nats_server.url, tmp_path, **replicate_settings(fake)) as base_url,
    ):
        # A worker whose first poll would come only after 5 s, with webhooks to the gateway.
        settings = Settings(
            nats_url=nats_server.url,
            **replicate_settings(
                fake, public_base_url=base_url, replicate_poll_min_s=5, replicate_poll_max_s=5
            ),
        )
        bus = await Bus.connect(settings.nats_url, service="test-worker")
        backend = await ReplicateBackend.open(
            settings, bus, PricingSource(DEFAULT_PRICING_FILE).table
        )
        try:
            started = time.monotonic()
            jpeg = await asyncio.wait_for(backend.generate_frame(frame_spec(1)), timeout=4)
            assert jpeg.startswith(b"\xff\xd8") and time.monotonic() - started < 4
            # It never had to poll: the signed webhook through the gateway woke it.
            [record] = fake.predictions.values()
            assert record.get_count == 0
            assert backend.inbox is not None and backend.inbox.received >= 1
            assert fake.stats()["webhooks"]["delivered"] >= 1
        finally:
            await backend.close()
            await bus.close()
