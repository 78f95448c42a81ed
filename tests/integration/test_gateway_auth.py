"""Every way a bearer token can be wrong is a 401 with the JSON error shape; another
client's job does not exist for you."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.support.system import SECRET, System


def _token(**overrides: object) -> str:
    claims = {"sub": "client-a", "role": "client", "exp": int(time.time()) + 60}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, "HS256")


BAD_HEADERS = {
    "missing": None,
    "not bearer": "Basic dXNlcjpwYXNz",
    "empty bearer": "Bearer ",
    "malformed": "Bearer not.a.jwt",
    "expired": f"Bearer {_token(exp=int(time.time()) - 10)}",
    "wrong signature": "Bearer "
    + jwt.encode(
        {"sub": "client-a", "exp": int(time.time()) + 60},
        "another-secret-that-is-long-enough-too",
        "HS256",
    ),
    "alg none": "Bearer "
    + jwt.encode({"sub": "client-a", "exp": int(time.time()) + 60}, None, algorithm="none"),
    "no exp": f"Bearer {_token(exp=None)}",
    "no sub": f"Bearer {_token(sub=None)}",
    "bad role": f"Bearer {_token(role='superuser')}",
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
async def test_bad_tokens_are_401(system: System, case: str) -> None:
    # Each endpoint family answers a bad token with 401 and a JSON error.
    header = BAD_HEADERS[case]
    headers = {"Authorization": header} if header is not None else {}
    for method, path in (
        ("GET", "/api/v2/jobs"),
        ("POST", "/api/v2/jobs"),
        ("GET", "/api/v2/jobs/x"),
    ):
        async with system.http.request(method, system.base_url + path, headers=headers) as r:
            assert r.status == 401, (case, path)
            body = await r.json()
            assert body["error"]["code"] == "unauthorized" and body["error"]["message"]


async def test_health_endpoints_need_no_token(system: System) -> None:
    # Probes and scrapes work without auth.
    for path in ("/healthz", "/readyz", "/metrics"):
        async with system.http.get(system.base_url + path) as r:
            assert r.status == 200, path
    async with system.http.get(system.base_url + "/readyz") as r:
        assert (await r.json()) == {"status": "ready", "nats": True, "db": True}


async def test_other_clients_jobs_are_not_found(system: System) -> None:
    # Client A's job is invisible to client B on every job route (404, not 403).
    job = await system.create_job(client_id="client-a")
    job_path = f"/api/v2/jobs/{job['id']}"
    for method, path, body in (
        ("GET", job_path, None),
        ("GET", f"{job_path}/events", None),
        ("POST", f"{job_path}/approve", None),
        ("POST", f"{job_path}/cancel", None),
        ("PATCH", f"{job_path}/storyboard", {"scenes": []}),
        ("POST", f"{job_path}/scenes/1/refine", {"feedback": "x"}),
        ("GET", f"{job_path}/storyboard/1.jpg", None),
    ):
        status, answer, _ = await system.call(method, path, client_id="client-b", json=body)
        assert status == 404, (method, path)
        assert answer["error"]["code"] == "not_found"

    # An admin can see it.
    status, answer, _ = await system.call("GET", job_path, client_id="ops", role="admin")
    assert status == 200 and answer["id"] == job["id"]

    # An unknown job is a 404 too.
    status, _, _ = await system.call("GET", "/api/v2/jobs/does-not-exist")
    assert status == 404
