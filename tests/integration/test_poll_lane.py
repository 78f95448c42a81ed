"""The poll lane answers `GET /api/v2/jobs/{id}` for a cached job the caller may see,
exactly as the app would (body, headers, 304s, CORS, the request counted), and leaves
everything else to the app: refusals, other clients' jobs, jobs not cached, HEAD, query
strings. The gateway refuses to start when the route's operation asks for more than the
lane does."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from multidict import CIMultiDict

from services.gateway.app import init_app
from services.gateway.contract.operations import operation
from services.gateway.http.auth import issue_token
from services.gateway.http.poll_lane import POLL_LANE, check_route, install_poll_lane
from services.gateway.paths import JOB
from shared.metrics import HTTP_REQUESTS
from shared.service import start_site
from tests.support.nats_server import NatsServer
from tests.support.system import SECRET, System, gateway_alone, settings_for

ORIGIN = "http://127.0.0.1:5173"


@pytest_asyncio.fixture
async def system(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[System]:
    """The gateway alone (a created job is cached at once), CORS allowed for ORIGIN."""
    async with gateway_alone(
        nats_server.url,
        tmp_path,
        cors_allowed_origins=ORIGIN,
    ) as running:
        yield running


def answered(system: System) -> int:
    return system.app[POLL_LANE].answered


def polls_counted(status: int) -> float:
    """`http_requests_total` for the poll route with `status`, as /metrics reports it."""
    requests = next(iter(HTTP_REQUESTS.collect()))
    return sum(
        sample.value
        for sample in requests.samples
        if sample.labels == {"route": JOB, "method": "GET", "status": str(status)}
    )


async def get(
    system: System, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, bytes, CIMultiDict[str]]:
    """Status, body and headers but `Date` (which two answers a second apart differ in)."""
    async with system.http.request(method, system.base_url + path, headers=headers) as response:
        body = await response.read()
        kept = CIMultiDict(response.headers)
        kept.popall("Date", None)
        return response.status, body, kept


# Lifetimes no other request of a test uses (`System.auth` issues 3,600 s): new tokens.
TOKEN_TTLS = itertools.count(10_000)


async def verified(
    system: System, client_id: str = "client-a", role: str = "client"
) -> dict[str, str]:
    """The Authorization header of a token no request has carried yet (its own `exp`), used
    once through the app so that the gateway has verified it."""
    token = issue_token(SECRET, client_id, role, ttl_s=next(TOKEN_TTLS))  # type: ignore[arg-type]
    auth = {"Authorization": f"Bearer {token}"}
    assert (await get(system, "/api/v2/jobs?limit=1", auth))[0] == 200
    return auth


async def test_a_token_takes_the_lane_once_the_app_has_verified_it(system: System) -> None:
    job = await system.create_job()
    path = f"/api/v2/jobs/{job['id']}"
    token = issue_token(SECRET, "client-a", ttl_s=next(TOKEN_TTLS))
    auth = {"Authorization": f"Bearer {token}"}
    before = answered(system)

    first = await get(system, path, auth)
    assert first[0] == 200 and answered(system) == before
    assert await get(system, path, auth) == first
    assert answered(system) == before + 1


async def test_the_lane_answers_a_poll_as_the_app_does(system: System) -> None:
    job = await system.create_job()
    path = f"/api/v2/jobs/{job['id']}"
    auth = await verified(system)
    before, counted = answered(system), polls_counted(200)

    lane = await get(system, path, auth)
    # A query string is not the lane's: the app routes it to the same view.
    app = await get(system, path + "?from=app", auth)

    assert answered(system) == before + 1
    assert lane == app
    status, body, headers = lane
    assert status == 200 and body == (await get(system, path + "?again=1", auth))[1]
    assert headers["ETag"].startswith('"') and headers["Cache-Control"] == "no-cache"
    assert headers["Content-Type"] == "application/json" and headers["Vary"] == "Origin"
    assert polls_counted(200) == counted + 3  # the lane's answer and the app's two

    etag = headers["ETag"]
    for if_none_match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        lane_304 = await get(system, path, auth | {"If-None-Match": if_none_match})
        app_304 = await get(system, path + "?x=1", auth | {"If-None-Match": if_none_match})
        assert lane_304 == app_304
        assert lane_304[0] == 304 and lane_304[1] == b"" and lane_304[2]["ETag"] == etag
    assert answered(system) == before + 5
    stale = await get(system, path, auth | {"If-None-Match": '"old"'})
    assert stale[0] == 200 and answered(system) == before + 6

    # Admins see every client's job, through the lane too.
    admin = await get(system, path, await verified(system, "ops", "admin"))
    assert admin[0] == 200 and admin[1] == body and answered(system) == before + 7


async def test_the_lane_adds_the_apps_cors_headers(system: System) -> None:
    job = await system.create_job()
    path = f"/api/v2/jobs/{job['id']}"
    headers = await verified(system) | {"Origin": ORIGIN}
    before = answered(system)

    lane = await get(system, path, headers)
    app = await get(system, path + "?from=app", headers)

    assert answered(system) == before + 1
    assert lane == app
    assert lane[2]["Access-Control-Allow-Origin"] == ORIGIN
    assert lane[2]["Access-Control-Allow-Credentials"] == "true"
    assert "ETag" in lane[2]["Access-Control-Expose-Headers"]
    other = await get(system, path, headers | {"Origin": "http://127.0.0.1:6666"})
    assert other[0] == 200 and "Access-Control-Allow-Origin" not in other[2]


async def test_the_app_answers_what_the_lane_leaves(system: System) -> None:
    job = await system.create_job()
    path = f"/api/v2/jobs/{job['id']}"
    before, unauthorized = answered(system), polls_counted(401)

    status, body, _ = await get(system, path)
    assert status == 401 and b'"unauthorized"' in body
    status, body, _ = await get(system, path, {"Authorization": "Bearer not-a-token"})
    assert status == 401 and b'"unauthorized"' in body
    assert polls_counted(401) == unauthorized + 2  # counted once each, by the app
    status, body, _ = await get(system, path, await verified(system, "client-b"))
    assert status == 404 and b'"not_found"' in body  # someone else's job does not exist
    status, body, _ = await get(system, "/api/v2/jobs/" + "0" * 32, system.auth())
    assert status == 404 and b'"not_found"' in body
    status, _, headers = await get(system, path, system.auth(), method="HEAD")
    assert status == 200 and headers["ETag"]
    assert answered(system) == before


async def test_a_job_not_cached_is_read_by_the_app_then_cached_for_the_lane(
    system: System,
) -> None:
    job = await system.create_job()
    path = f"/api/v2/jobs/{job['id']}"
    # A second replica on the same database: the job is not in its cache yet.
    replica = init_app(system.settings)
    runner, port = await start_site(replica, "127.0.0.1", 0, install_poll_lane)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        async with system.http.get(url, headers=system.auth()) as response:
            assert response.status == 200
            first = await response.read()
        assert replica[POLL_LANE].answered == 0
        async with system.http.get(url, headers=system.auth()) as response:
            assert response.status == 200 and await response.read() == first
        assert replica[POLL_LANE].answered == 1
    finally:
        await runner.cleanup()


def test_the_real_route_is_one_the_lane_can_stand_in_for(tmp_path: Path) -> None:
    app = init_app(settings_for("nats://127.0.0.1:1", tmp_path))
    check_route(app.router)


def lone_route(**op: Any) -> web.Application:
    @operation(summary="a job", **op)
    async def view(_: web.Request) -> web.Response:
        return web.Response()

    app = web.Application()
    app.router.add_get(JOB, view)
    return app


@pytest.mark.parametrize(
    ("op", "refusal"),
    [
        ({"traced": True}, "a span"),
        ({"traced": False, "auth": False}, "no authentication"),
        ({"traced": False, "media_token": True}, "media tokens"),
        ({"traced": False, "headers": {"Idempotency-Key": "a key"}}, "idempotency"),
    ],
)
def test_a_route_asking_for_more_stops_the_gateway(op: dict[str, Any], refusal: str) -> None:
    with pytest.raises(ValueError, match=refusal):
        check_route(lone_route(**op).router)


def test_no_route_or_no_operation_stops_the_gateway() -> None:
    with pytest.raises(ValueError, match="no GET"):
        check_route(web.Application().router)
    bare = web.Application()

    async def view(_: web.Request) -> web.Response:
        return web.Response()

    bare.router.add_get(JOB, view)
    with pytest.raises(ValueError, match="no @operation"):
        check_route(bare.router)


async def test_the_lane_is_installed_after_setup_only(tmp_path: Path) -> None:
    runner = web.AppRunner(init_app(settings_for("nats://127.0.0.1:1", tmp_path)))
    with pytest.raises(RuntimeError, match=r"before runner\.setup"):
        install_poll_lane(runner)
