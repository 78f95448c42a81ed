"""Secrets never leave the process that holds them: after a full job on the replicate
backend (against the fake Replicate), with errors provoked on the way, neither the JWT
secret nor the Replicate token appears in any service's output, any error body or API
answer, any message stored in any stream, any metric, any database or stored file."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import nats
import pytest
from pydantic import SecretStr

from services.assets.settings import AssetsSettings
from services.billing.settings import BillingSettings
from shared.settings import Settings
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import replicate_env, started_fake
from tests.support.stack import Stack
from tests.support.streams import stream_messages
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate, Faults

BRIEF: dict[str, Any] = {
    "campaign_id": "secret-keeping",
    "prompt": "Introducing Glow Serum. Brightens skin in 7 days. Vegan.",
    "platform": "tiktok",
    "duration_s": 5,
}


def _forms(secret: str) -> list[bytes]:
    """The secret as it could leak: whole, or its random part alone (a masked prefix)."""
    return [secret.encode(), secret[-24:].encode()]


@pytest.mark.timeout(180)
async def test_no_secret_leaks_from_a_full_job(
    own_nats: NatsServer, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    jwt_secret = "jwt-" + secrets.token_urlsafe(32)
    token = "r8_" + secrets.token_urlsafe(30)
    stack = Stack(own_nats.url, tmp_path / "system", secret=jwt_secret)
    async with started_fake(token=token, latency_scale=0.01) as fake:
        # Every service on the replicate backend, logging at DEBUG (where leaks hide).
        stack.add_all(**replicate_env(fake, replicate_api_token=token), LOG_LEVEL="DEBUG")
        stack.start()
        try:
            codes, stored, answers, done = await _full_job_with_errors(stack, http, fake, token)
        finally:
            stack.stop()

    # Nothing anywhere carries either secret.
    outputs = {name: text.encode() for name, text in stack.logs().items()}
    files = _stored_files(tmp_path)
    places = {"answers": b"\n".join(answers), "streams": stored, **outputs, **files}
    leaks = [
        (place, which)
        for place, data in places.items()
        for which, secret in (("JWT_SECRET", jwt_secret), ("REPLICATE_API_TOKEN", token))
        if any(form in data for form in _forms(secret))
    ]
    assert leaks == []
    # The run was real: every service wrote JSON logs and stopped cleanly.
    assert all(b'"service"' in text for text in outputs.values())
    assert all(code == 0 for code in codes.values()), codes
    assert len(stored) > 1000 and done["outputs"]


async def _full_job_with_errors(
    stack: Stack, http: aiohttp.ClientSession, fake: FakeReplicate, token: str
) -> tuple[dict[str, int | None], bytes, list[bytes], dict[str, Any]]:
    """Run the job and the errors; the exit codes, everything stored in the streams, every
    answer the API gave, and the finished job."""
    await stack.ready()
    api = stack.api(http)
    jwt_secret = stack.secret
    answers: list[bytes] = []

    # A job goes from brief to video and gets an export.
    job = await _submit(api)
    await api.wait_status(job["id"], "storyboard_ready", timeout_s=60)
    await api.approve(job["id"])
    await api.render(job["id"])
    done = await api.wait_status(job["id"], "completed", timeout_s=90)
    status, _ = await api.call("POST", f"/api/v2/jobs/{job['id']}/exports", json={"aspect": "1:1"})
    assert status == 202
    answers.append(str(done).encode())

    # A job the provider refuses fails with its message.
    fake.set_faults(Faults(content_policy_fraction=1.0))
    refused = await _submit(api)
    failed = await api.wait_status(refused["id"], "failed", timeout_s=60)
    fake.set_faults(Faults())
    answers.append(str(failed).encode())

    # Errors of every kind, with every way of getting the token wrong.
    forged = jwt.encode({"sub": "client-a", "exp": 1}, jwt_secret, "HS256")
    for method, path, kwargs in (
        ("GET", "/api/v2/jobs", {"headers": {"Authorization": f"Bearer {forged}"}}),
        ("GET", "/api/v2/jobs", {"headers": {"Authorization": f"Bearer {token}"}}),
        ("GET", "/api/v2/jobs", {"headers": {"Authorization": f"Bearer {jwt_secret}"}}),
        ("POST", "/api/v2/jobs", {"json": {**BRIEF, "duration_s": 500}}),
        ("POST", "/api/v2/jobs", {"data": b"{not json"}),
        ("GET", "/api/v2/jobs/0123456789abcdef0123456789abcdef", {}),
        ("POST", f"/api/v2/jobs/{job['id']}/render", {}),
        ("POST", "/api/v2/estimate?backend=replicate", {"json": BRIEF}),
        ("GET", f"/api/v2/jobs/{job['id']}", {}),
        ("GET", "/api/v2/billing/summary", {"role": "admin"}),
    ):
        status, body = await api.call(method, path, **kwargs)
        answers.append(f"{status} {body}".encode())
    for process in stack.all():
        for url in (stack.health_url(process), stack.metrics_url(process)):
            async with http.get(url) as response:
                answers.append(await response.read())
    async with http.get(stack.base_url + "/openapi.json") as response:
        answers.append(await response.read())
    await eventually(
        lambda: api.job(job["id"]),
        lambda j: any(o["kind"] == "export" for o in j["outputs"]),
        timeout_s=60,
    )

    stored = b""
    for name in await _streams(stack.nats_url):
        for message in await stream_messages(stack.nats_url, name):
            stored += message.subject.encode() + message.data + str(message.headers).encode()
    return stack.stop(), stored, answers, done


def _stored_files(root: Path) -> dict[str, bytes]:
    """Every file the services wrote (databases, storage), the nats-server's store aside."""
    return {
        str(p): p.read_bytes() for p in root.rglob("*") if p.is_file() and "nats" not in p.parts
    }


async def _submit(api: Any) -> dict[str, Any]:
    # A paid job reserves its budget through billing, which may still be starting.
    for _ in range(100):
        status, body = await api.call("POST", "/api/v2/jobs", json=BRIEF)
        if status == 202:
            return body  # type: ignore[no-any-return]
        assert status == 503, body
        await asyncio.sleep(0.2)
    raise AssertionError("billing never answered")


async def _streams(nats_url: str) -> list[str]:
    nc = await nats.connect(nats_url)
    try:
        return [info.config.name for info in await nc.jetstream().streams_info()]  # type: ignore[misc]
    finally:
        await nc.close()


def test_settings_never_show_their_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    jwt_secret = "jwt-" + secrets.token_urlsafe(32)
    token = "r8_" + secrets.token_urlsafe(30)
    # From the environment, with either name of the Replicate token.
    for variable in ("REPLICATE_API_TOKEN", "REPLICATE_API_KEY"):
        monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
        monkeypatch.delenv("REPLICATE_API_KEY", raising=False)
        monkeypatch.setenv("JWT_SECRET", jwt_secret)
        monkeypatch.setenv(variable, token)
        settings = Settings()
        assert isinstance(settings.jwt_secret, SecretStr)
        assert settings.replicate_api_token is not None
        assert settings.replicate_api_token.get_secret_value() == token
        for each in (
            settings,
            BillingSettings.from_base(settings),
            AssetsSettings.from_base(settings),
        ):
            shown = " ".join(
                (
                    repr(each),
                    str(each),
                    each.model_dump_json(),
                    str(each.model_dump()),
                    f"{each!r:}",
                )
            )
            assert jwt_secret not in shown and token not in shown
            assert "**********" in each.model_dump_json()
