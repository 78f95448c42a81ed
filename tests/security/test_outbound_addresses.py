"""A client cannot make the platform call an internal address: job webhooks refuse every
spelling of a non-public host, and where the provider calls back (PUBLIC_BASE_URL) is
configuration, never taken from a request's Host or forwarding headers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from services.billing.__main__ import serve as serve_billing
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import replicate_settings, started_fake
from tests.support.system import System, running_system
from tests.support.waiting import eventually

BRIEF: dict[str, Any] = {
    "campaign_id": "outbound",
    "prompt": "Introducing Glow Serum. Brightens skin in 7 days.",
    "platform": "tiktok",
    "duration_s": 5,
}


@dataclass
class Receiver:
    """An 'internal' HTTP service on loopback that records every request it gets."""

    url: str = ""
    calls: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()

    async def record(request: web.Request) -> web.Response:
        receiver.calls.append(f"{request.method} {request.path_qs}")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def _disguises(port: int) -> list[str]:
    """The receiver's address (and other internal ones) spelled every way a filter misses."""
    return [
        f"http://127.0.0.1:{port}/hook",
        f"http://localhost:{port}/hook",
        f"http://LOCALHOST.:{port}/hook",
        f"http://2130706433:{port}/hook",  # 127.0.0.1 as one decimal number
        f"http://0x7f000001:{port}/hook",  # ... in hex
        f"http://0177.0.0.1:{port}/hook",  # ... in octal
        f"http://127.1:{port}/hook",  # ... shortened
        f"http://[::ffff:7f00:1]:{port}/hook",  # ... IPv4-mapped IPv6
        f"http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/hook",
        f"http://user:pw@127.0.0.1:{port}/hook",  # credentials in front of the host
        f"http://0.0.0.0:{port}/hook",
        f"http://[::]:{port}/hook",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data",  # 169.254.169.254, mapped
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://172.16.5.4/hook",
        "http://[fd00::1]/hook",
        "http://[fe80::1]/hook",
        "http://255.255.255.255/hook",
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{port}/_hook",
        f"ftp://127.0.0.1:{port}/hook",
    ]


async def test_webhook_urls_cannot_reach_internal_addresses(system: System) -> None:
    async with receiving() as internal:
        port = int(internal.url.rsplit(":", 1)[1])
        # Every disguise of an internal address is refused before anything is written.
        # (One client per try: refused creations still count against a client's rate.)
        accepted = []
        for n, url in enumerate(_disguises(port)):
            client = f"prober-{n}"
            status, body, _ = await system.call(
                "POST", "/api/v2/jobs", client, json={**BRIEF, "webhook_url": url}
            )
            if status != 422 or body["error"]["details"][0]["field"] != "webhook_url":
                accepted.append((url, status))
            _, page, _ = await system.call("GET", "/api/v2/jobs", client)
            assert page["items"] == []
        assert accepted == []

        # A job without a webhook runs to storyboard_ready; the internal service heard nothing.
        job = await system.create_job(duration_s=5)
        await system.wait_status(job["id"], "storyboard_ready")
        assert internal.calls == []


@pytest.mark.timeout(120)
async def test_provider_callbacks_go_only_where_configured(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with (
        receiving() as configured,
        receiving() as internal,
        started_fake(latency_scale=0.01) as fake,
    ):
        # PUBLIC_BASE_URL names one receiver; requests will name the other in every header
        # a proxy-aware server might trust.
        settings = replicate_settings(fake, public_base_url=configured.url)
        async with running_system(nats_server.url, tmp_path, **settings) as system:
            system._start(serve_billing, "billing", {"database_path": tmp_path / "billing.db"})
            host = internal.url.removeprefix("http://")
            steer = {
                "Host": host,
                "X-Forwarded-Host": host,
                "X-Forwarded-Proto": "http",
                "X-Forwarded-For": "127.0.0.1",
                "Forwarded": f"for=127.0.0.1;host={host};proto=http",
                "X-Original-URL": f"{internal.url}/webhooks/replicate",
            }
            job = await _submit(system, steer)
            await system.wait_status(job["id"], "storyboard_ready", timeout_s=60)

            # The provider called back the configured address only.
            await eventually(lambda: _count(configured), lambda n: n >= 1, timeout_s=20)
            assert all(call.startswith("POST /webhooks/replicate") for call in configured.calls)
            assert internal.calls == []
            assert fake.stats()["webhooks"]["attempts"] >= 1


async def _count(receiver: Receiver) -> int:
    return len(receiver.calls)


async def _submit(system: System, headers: dict[str, str]) -> dict[str, Any]:
    # A paid job reserves its budget through billing, which starts with the test.
    for _ in range(100):
        status, body, _ = await system.call("POST", "/api/v2/jobs", json=BRIEF, headers=headers)
        if status == 202:
            return body  # type: ignore[no-any-return]
        assert status == 503, body
        await asyncio.sleep(0.2)
    raise AssertionError("billing never answered")
