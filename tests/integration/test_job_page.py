"""A page of `GET /api/v2/jobs` carries each job byte for byte as its poll answers it,
whether the job's JSON came from the poll cache or was read from the database (a second
gateway on the same database, its cache empty), and the page is `JobPage`'s own JSON. The
jobs a list reads are cached: the next poll of one needs no read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from services.gateway.app import init_app
from services.gateway.http.poll_lane import POLL_LANE, install_poll_lane
from shared.models import JobPage
from shared.service import start_site
from tests.support.nats_server import NatsServer
from tests.support.system import System, gateway_alone


@pytest_asyncio.fixture
async def system(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[System]:
    async with gateway_alone(nats_server.url, tmp_path) as running:
        yield running


async def raw(system: System, url: str, role: str = "client") -> bytes:
    # One token per caller for the whole test, so the poll lane knows it once verified.
    headers = TOKENS.setdefault(role, system.auth("ops" if role == "admin" else "client-a", role))
    async with system.http.get(url, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "application/json"
        return await response.read()


TOKENS: dict[str, dict[str, str]] = {}


async def test_a_page_holds_each_job_as_its_poll_answers_it(system: System) -> None:
    TOKENS.clear()
    ids = [(await system.create_job(campaign_id=f"c{n}"))["id"] for n in range(3)]
    theirs = (await system.create_job(client_id="client-b"))["id"]
    base = system.base_url
    polls = {job_id: await raw(system, f"{base}/api/v2/jobs/{job_id}") for job_id in ids}

    first = await raw(system, f"{base}/api/v2/jobs?limit=2")
    page = JobPage.model_validate_json(first)
    assert [job.id for job in page.items] == ids[::-1][:2] and page.next_cursor
    assert first == page.model_dump_json().encode()
    assert first.startswith(b'{"items":[' + polls[ids[2]] + b"," + polls[ids[1]] + b"],")
    last = await raw(system, f"{base}/api/v2/jobs?limit=2&cursor={page.next_cursor}")
    assert last == b'{"items":[' + polls[ids[0]] + b'],"next_cursor":null}'
    empty = await raw(system, f"{base}/api/v2/jobs?campaign_id=none")
    assert empty == b'{"items":[],"next_cursor":null}'

    # A second gateway on the same database has none of them cached: it reads them.
    replica = init_app(system.settings)
    runner, port = await start_site(replica, "127.0.0.1", 0, install_poll_lane)
    try:
        other = f"http://127.0.0.1:{port}"
        assert await raw(system, f"{other}/api/v2/jobs?limit=2") == first
        # An admin's page has every client's jobs, the same from either gateway.
        admin = await raw(system, f"{other}/api/v2/jobs?limit=5", "admin")
        assert len(JobPage.model_validate_json(admin).items) == 4
        assert admin == await raw(system, f"{base}/api/v2/jobs?limit=5", "admin")
        # The listed jobs are cached now: their polls are the poll lane's (the replica
        # verified client-a's token on its list).
        lane = replica[POLL_LANE]
        for job_id in ids:
            assert await raw(system, f"{other}/api/v2/jobs/{job_id}") == polls[job_id]
        assert lane.answered == 3
        # Cached by an admin's list, another client's job is still not client-a's to see.
        url = f"{other}/api/v2/jobs/{theirs}"
        async with system.http.get(url, headers=TOKENS["client"]) as response:
            assert response.status == 404
        assert lane.answered == 3
    finally:
        await runner.cleanup()
