"""Outgoing webhooks: a job with a `webhook_url` tells a real receiver on loopback (allowed by
`WEBHOOK_ALLOWED_HOSTS`) about its state changes, signed the Standard-Webhooks way and
checked with `replicate.webhook.Webhooks.validate`; failed deliveries are retried with the
same id, survive a gateway restart, and private addresses are refused."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from replicate.webhook import InvalidSignatureError, Webhooks, WebhookSigningSecret

from services.gateway.webhooks.dispatcher import WebhookDispatcher
from services.gateway.webhooks.signing import new_secret, signed_headers
from services.gateway.webhooks.targets import TargetPolicy, TargetRefused
from shared.backoff import Backoff
from shared.db import Database
from shared.settings import Settings
from tests.integration.test_storyboard_failures import png, stored, uploaded
from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system, settings_for
from tests.support.waiting import eventually

FAST_RETRIES = {
    "webhook_allowed_hosts": "127.0.0.1/32",
    "webhook_retry_base_s": 0.05,
    "webhook_retry_cap_s": 0.2,
    "webhook_max_attempts": 5,
}


@dataclass
class Call:
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> dict[str, Any]:
        return orjson.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    """A webhook endpoint that records every request and answers `status` (500 for the
    first `failures` requests)."""

    url: str = ""
    calls: list[Call] = field(default_factory=list)
    failures: int = 0
    status: int = 204

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append(Call(dict(request.headers), await request.text()))
        if len(self.calls) <= self.failures:
            return web.Response(status=500)
        return web.Response(status=self.status)

    def of_type(self, kind: str) -> list[Call]:
        return [call for call in self.calls if call.json["type"] == kind]

    async def received(self, count: int) -> None:
        async def probe() -> int:
            return len(self.calls)

        await eventually(probe, lambda n: n >= count)

    async def got(self, kind: str, timeout_s: float = 30) -> Call:
        async def probe() -> list[Call]:
            return self.of_type(kind)

        return (await eventually(probe, timeout_s=timeout_s))[-1]


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real HTTP receiver on a loopback port."""
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}/hook"
    yield hook
    await runner.cleanup()


@pytest_asyncio.fixture
async def hooked(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[System]:
    """The system with loopback allowed for webhooks and retries a few ms apart."""
    async with running_system(nats_server.url, tmp_path, **FAST_RETRIES) as system:
        yield system


async def secret_of(system: System, client_id: str = "client-a") -> str:
    status, body, _ = await system.call("GET", "/api/v2/webhooks/secret", client_id)
    assert status == 200, body
    return str(body["key"])


def assert_signed(call: Call, key: str) -> None:
    """Raises unless the call carries a valid Standard-Webhooks signature for `key`."""
    Webhooks.validate(
        headers=call.headers, body=call.body, secret=WebhookSigningSecret(key=key), tolerance=60
    )


async def deliveries(system: System, job_id: str) -> list[dict[str, Any]]:
    status, body, _ = await system.call("GET", f"/api/v2/jobs/{job_id}/webhooks")
    assert status == 200, body
    return body["items"]  # type: ignore[no-any-return]


async def test_a_job_reports_storyboard_ready_and_completed(
    hooked: System, receiver: Receiver
) -> None:
    # The client's secret, then a job that names the receiver.
    key = await secret_of(hooked)
    job = await hooked.create_job(duration_s=6, webhook_url=receiver.url)

    # The storyboard is announced, signed with the client's secret.
    ready = await receiver.got("storyboard_ready")
    assert_signed(ready, key)
    body = ready.json
    assert body["job_id"] == job["id"] and body["status"] == "storyboard_ready"
    assert body["campaign_id"] == "spring-launch"
    assert body["estimated_cost"] == 0.0 and body["error_message"] is None
    assert set(body) >= {"actual_cost", "occurred_at"}
    assert ready.headers["webhook-id"].startswith("msg_")
    assert ready.headers["Content-Type"] == "application/json"

    # Approved and rendered: the completion is announced with the video.
    await hooked.call("POST", f"/api/v2/jobs/{job['id']}/approve")
    await hooked.call("POST", f"/api/v2/jobs/{job['id']}/render")
    done = await receiver.got("completed", timeout_s=60)
    assert_signed(done, key)
    assert done.json["status"] == "completed"
    assert done.json["video_url"] == f"/api/v2/jobs/{job['id']}/video?variation=1"
    assert done.json["occurred_at"] > body["occurred_at"]
    # ... and what the checks found: the storyboard's preflight and the file's QC.
    assert body["checks"]["status"] in ("pass", "warn") and body["checks"]["outputs_checked"] == 0
    checks = done.json["checks"]
    assert checks["outputs_checked"] == 1 and checks["errors"] == 0
    assert checks["status"] in ("pass", "warn")
    assert done.headers["webhook-id"] != ready.headers["webhook-id"]

    # A signature made with another secret does not validate.
    with pytest.raises(InvalidSignatureError):
        assert_signed(done, new_secret())

    # The job's delivery log shows both, delivered at the first attempt.
    log = await eventually(
        lambda: deliveries(hooked, job["id"]),
        lambda items: len(items) == 2 and all(i["delivered_at"] for i in items),
    )
    assert [(i["type"], i["attempts"], i["last_status"]) for i in log] == [
        ("storyboard_ready", 1, 204),
        ("completed", 1, 204),
    ]
    # Another client cannot read it.
    status, _, _ = await hooked.call("GET", f"/api/v2/jobs/{job['id']}/webhooks", "client-b")
    assert status == 404


async def test_failed_deliveries_are_retried_with_the_same_id(
    hooked: System, receiver: Receiver
) -> None:
    # The receiver answers 500 twice, then 204.
    receiver.failures = 2
    key = await secret_of(hooked)
    job = await hooked.create_job(duration_s=6, webhook_url=receiver.url)

    # Three attempts of one delivery: same id and body, each validly signed.
    await receiver.received(3)
    first, second, third = receiver.calls[:3]
    assert (
        first.headers["webhook-id"] == second.headers["webhook-id"] == third.headers["webhook-id"]
    )
    assert first.body == second.body == third.body
    for call in (first, second, third):
        assert_signed(call, key)

    # The log records three attempts, the last one delivered.
    (delivery,) = await eventually(
        lambda: deliveries(hooked, job["id"]), lambda items: items and items[0]["delivered_at"]
    )
    assert delivery["id"] == first.headers["webhook-id"]
    assert delivery["attempts"] == 3 and delivery["last_status"] == 204
    assert delivery["last_error"] is None


async def test_a_receiver_that_keeps_failing_is_given_up_on(
    hooked: System, receiver: Receiver
) -> None:
    # Every attempt fails: after WEBHOOK_MAX_ATTEMPTS the delivery stops, with the reason.
    receiver.failures = 1000
    job = await hooked.create_job(duration_s=6, webhook_url=receiver.url)
    (delivery,) = await eventually(
        lambda: deliveries(hooked, job["id"]), lambda items: items and items[0]["failed_at"]
    )
    assert delivery["attempts"] == FAST_RETRIES["webhook_max_attempts"]
    assert delivery["last_error"] == "HTTP 500" and delivery["delivered_at"] is None
    assert len(receiver.calls) == FAST_RETRIES["webhook_max_attempts"]


async def test_a_failed_job_reports_failed_with_the_reason(
    hooked: System, receiver: Receiver
) -> None:
    # The client rotates its secret, then a job fails (its product image is damaged).
    old = await secret_of(hooked)
    status, rotated, _ = await hooked.call("POST", "/api/v2/webhooks/secret/rotate")
    assert status == 200 and rotated["key"] != old and rotated["rotated_at"]
    assert await secret_of(hooked) == rotated["key"]
    asset = await uploaded(hooked, png((0, 128, 255)))
    stored(hooked, asset).write_bytes(b"this is not a png any more")
    job = await hooked.create_job(assets=[asset["asset_id"]], webhook_url=receiver.url)

    # The failure is announced with the job's reason.
    failed = await receiver.got("failed")
    assert failed.json["status"] == "failed" and failed.json["job_id"] == job["id"]
    assert failed.json["error_message"].startswith("storyboard generation failed:")
    # During the grace period both the new and the previous secret validate it.
    assert_signed(failed, rotated["key"])
    assert_signed(failed, old)
    assert receiver.of_type("storyboard_ready") == []


async def test_a_canceled_job_reports_canceled(hooked: System, receiver: Receiver) -> None:
    job = await hooked.create_job(duration_s=6, webhook_url=receiver.url)
    status, _, _ = await hooked.call("POST", f"/api/v2/jobs/{job['id']}/cancel")
    assert status == 200
    canceled = await receiver.got("canceled")
    assert canceled.json["status"] == "canceled"


async def test_queued_deliveries_survive_a_gateway_restart(
    nats_server: NatsServer, tmp_path: Path, receiver: Receiver
) -> None:
    # The receiver is failing while the storyboard is announced ...
    receiver.failures = 1000
    settings = {**FAST_RETRIES, "webhook_retry_base_s": 0.5, "webhook_retry_cap_s": 0.5}
    async with running_system(nats_server.url, tmp_path, **settings) as first:
        job = await first.create_job(duration_s=6, webhook_url=receiver.url)
        (pending,) = await eventually(
            lambda: deliveries(first, job["id"]), lambda items: items and items[0]["attempts"]
        )
    assert pending["delivered_at"] is None and pending["failed_at"] is None

    # ... the gateway stops, the receiver recovers, and a new gateway on the same database
    # delivers it, with the same webhook id.
    receiver.failures = 0
    receiver.calls.clear()
    async with running_system(nats_server.url, tmp_path, **settings) as second:
        (delivered,) = await eventually(
            lambda: deliveries(second, job["id"]), lambda items: items[0]["delivered_at"]
        )
    assert delivered["id"] == pending["id"]
    assert [call.headers["webhook-id"] for call in receiver.calls] == [pending["id"]]


PRIVATE_URLS = (
    "http://127.0.0.1:9/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
)


async def test_private_addresses_are_refused(system: System) -> None:
    # Without an allow-list, a URL reaching a non-public address is a 422 naming the field.
    brief = {"campaign_id": "c", "prompt": "p", "platform": "tiktok", "duration_s": 10}
    for url in PRIVATE_URLS:
        status, body, _ = await system.call(
            "POST", "/api/v2/jobs", json=brief | {"webhook_url": url}
        )
        assert status == 422, (url, body)
        assert body["error"]["code"] == "webhook_url_not_allowed"
        assert body["error"]["details"][0]["field"] == "webhook_url"
        assert "public addresses only" in body["error"]["message"]
    # Nothing was created.
    _, page, _ = await system.call("GET", "/api/v2/jobs")
    assert page["items"] == []


async def test_webhook_urls_must_be_http(system: System) -> None:
    status, body, _ = await system.call(
        "POST",
        "/api/v2/jobs",
        json={"campaign_id": "c", "prompt": "p", "platform": "tiktok", "duration_s": 10}
        | {"webhook_url": "ftp://example.com/hook"},
    )
    assert status == 422 and body["error"]["details"][0]["field"] == "webhook_url"


async def test_each_client_has_its_own_stable_secret(system: System) -> None:
    first = await secret_of(system)
    assert await secret_of(system) == first
    assert first.startswith("whsec_") and len(base64.b64decode(first[6:])) == 32
    assert await secret_of(system, "client-b") != first
    status, _, _ = await system.call(
        "GET", "/api/v2/webhooks/secret", headers={"Authorization": "Bearer nope"}
    )
    assert status == 401


async def test_the_address_is_checked_again_when_delivering(
    nats_server: NatsServer, tmp_path: Path, receiver: Receiver
) -> None:
    # Deliveries queued while loopback was allowed (or before a name re-pointed at it) ...
    settings = settings_for(nats_server.url, tmp_path, webhook_max_attempts=1)
    db = await Database.open(settings.database_path)
    await db.migrate(settings.gateway_migrations_path)
    port = receiver.url.split(":")[2].split("/")[0]
    for number, url in enumerate([receiver.url, f"http://localhost:{port}/hook"]):
        await db.conn.execute(
            "INSERT INTO webhook_deliveries (id, job_id, client_id, url, type, payload)"
            " VALUES (?, 'j1', 'client-a', ?, 'completed', ?)",
            (f"msg_{number}", url, b"{}"),
        )
    # ... are not sent by a dispatcher whose policy refuses loopback, by IP or by name.
    dispatcher = WebhookDispatcher(db, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    rows = await eventually(
        lambda: db.fetchall("SELECT * FROM webhook_deliveries WHERE failed_at IS NOT NULL"),
        lambda found: len(found) == 2,
    )
    stop.set()
    await asyncio.wait_for(task, 10)
    await db.close()
    assert receiver.calls == []
    assert all("loopback" in row["last_error"] for row in rows), [r["last_error"] for r in rows]


async def test_the_policy_reads_hosts_and_cidrs() -> None:
    policy = TargetPolicy.parse(" hooks.internal , 10.0.0.0/8,::1 ")
    await policy.check_url("http://hooks.internal/x")  # allowed by name, never resolved
    await policy.check_url("http://10.9.8.7/x")
    await policy.check_url("http://[::1]:8080/x")
    await policy.check_url("https://8.8.8.8/x")  # public
    with pytest.raises(TargetRefused, match="private"):
        await policy.check_url("http://172.16.0.1/x")
    with pytest.raises(TargetRefused, match="does not resolve"):
        await policy.check_url("http://no-such-host.invalid/x")


def test_retry_delays_double_up_to_the_cap() -> None:
    # The dispatcher's backoff (base 2 s, cap 60 s): doubling, at most a quarter less.
    settings = Settings(webhook_retry_base_s=2.0, webhook_retry_cap_s=60.0)
    backoff = WebhookDispatcher(cast(Database, None), settings).backoff
    delays = [backoff.delay_s(n, draw=0.0) for n in range(1, 8)]
    assert delays == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert backoff.delay_s(3, draw=0.999) == pytest.approx(6.0, rel=0.01)
    assert backoff == Backoff(2.0, 60.0, jitter="quarter")


def test_signatures_match_the_standard_webhooks_example() -> None:
    # The worked example of the Standard Webhooks specification.
    key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = signed_headers([key], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
