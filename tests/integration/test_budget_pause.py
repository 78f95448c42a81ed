"""Budgets as the seed says (issue #17): over the hard daily limit, new paid work is
accepted and held — `paused`, with the reason — and goes on by itself when an admin raises
today's limit or the UTC day rolls over; a caller that prefers a refusal asks for it with
`?on_budget=reject`. Renders, refinements and retries follow the same rule.

Real nats-server, billing, gateway, storyboard and renderer workers on the replicate
backend against the fake Replicate server, and a real webhook receiver on loopback. The
resume loop's safety net is set to an hour, so what resumes a job here is the budget
changing, not a timer."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from services.billing.__main__ import serve as serve_billing
from services.gateway.appkeys import RESUMER
from shared.billing import BudgetChanged, CostRecorded
from shared.events import Event
from tests.integration.test_webhooks_out import Receiver, receiver
from tests.support import api
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import replicate_settings, started_fake
from tests.support.system import System, running_system
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate, Faults

__all__ = ["receiver"]  # the fixture, imported for pytest

ADMIN = "ops-admin"
BRIEF: dict[str, Any] = {**api.BRIEF, "call_to_action": "Shop Glow today"}
# A 15 s TikTok's storyboard is priced at about $0.014: one fits under a one-cent limit
# (it is admitted while nothing is committed), the next does not.
ONE_CENT = 0.01
GATEWAY = {
    # Only the budget changing resumes a job in these tests, not the safety net.
    "paused_resume_interval_s": 3600.0,
    "webhook_allowed_hosts": "127.0.0.1/32",
    "webhook_retry_base_s": 0.05,
    "webhook_retry_cap_s": 0.2,
}


@dataclass
class ManualClock:
    """Billing's clock, moved by the test (a day rolls over without waiting for it)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@contextlib.asynccontextmanager
async def paid_system(
    nats_server: NatsServer,
    root: Path,
    fake: FakeReplicate,
    hard_usd: float,
    clock: Callable[[], datetime] | None = None,
    **overrides: Any,
) -> AsyncIterator[System]:
    """Gateway and workers on the replicate backend, billing with a hard limit of
    `hard_usd` (and `clock`, if given), answering before the test starts."""
    settings = replicate_settings(fake, **{**GATEWAY, **overrides})
    async with running_system(nats_server.url, root, **settings) as system:
        serve = serve_billing if clock is None else functools.partial(serve_billing, clock=clock)
        limits = {"daily_budget_soft_usd": hard_usd / 2, "daily_budget_hard_usd": hard_usd}
        system._start(serve, "billing", {"database_path": root / "billing.db", **limits})
        await eventually(lambda: budget(system), lambda answer: answer[0] == 200)
        yield system


async def budget(system: System) -> tuple[int, Any]:
    status, body, _ = await system.call("GET", "/api/v2/billing/budget", ADMIN, "admin")
    return status, body


async def set_limit(system: System, hard_usd: float, reason: str = "launch day") -> Any:
    body = {"hard_limit_usd": hard_usd, "reason": reason}
    status, limits, _ = await system.call(
        "PUT", "/api/v2/billing/budget", ADMIN, "admin", json=body
    )
    assert status == 200, limits
    return limits


async def submit(system: System, query: str = "", **fields: Any) -> tuple[int, Any, Any]:
    return await system.call("POST", f"/api/v2/jobs{query}", json={**BRIEF, **fields})


async def held_job(system: System, stage: str, **fields: Any) -> Any:
    """A new job, accepted and paused before its storyboard."""
    status, job, _ = await submit(system, **fields)
    assert status == 202, job
    assert_paused(job, stage)
    return job


def assert_paused(job: Any, stage: str) -> None:
    assert job["status"] == "paused", job
    pause = job["paused"]
    assert pause["reason"] == "daily_budget_exhausted" and pause["stage"] == stage
    assert pause["resumes"] == "at UTC midnight, or as soon as an admin raises today's limit"
    assert pause["message"] == job["progress"]["message"]
    assert pause["message"].startswith("paused: the daily budget is exhausted")
    assert (
        pause["budget"]["spent_today_usd"] + pause["budget"]["committed_usd"]
        >= (pause["budget"]["hard_limit_usd"])
    )
    assert job["poll_after_ms"] == 15000


async def sweeps_without_resuming(system: System, *jobs: Any) -> None:
    """The resume loop looks again (billing still refuses): the jobs stay paused. Woken
    twice, so at least one whole pass began after the jobs were paused."""
    resumer = system.app[RESUMER]
    for _ in range(2):
        before = resumer.sweeps
        resumer.wake()
        await eventually(lambda: _value(resumer.sweeps), lambda n, b=before: n > b)
    for job in jobs:
        assert (await system.job(job["id"]))["status"] == "paused"


async def _value(value: int) -> int:
    return value


def audit_rows(root: Path) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(root / "billing.db")) as conn:
        return conn.execute(
            "SELECT changed_by, old_hard, new_hard, new_soft, reason FROM budget_changes"
            " ORDER BY id"
        ).fetchall()


async def test_jobs_over_the_hard_limit_pause_and_finish_once_an_admin_raises_it(
    nats_server: NatsServer, tmp_path: Path, receiver: Receiver
) -> None:
    async with (
        started_fake() as fake,
        paid_system(nats_server, tmp_path, fake, ONE_CENT) as system,
    ):
        # The first storyboard fits under the limit: it starts and reserves its money.
        status, first, _ = await eventually(lambda: submit(system), lambda answer: answer[0] != 503)
        assert status == 202 and first["status"] == "queued" and first["paused"] is None

        # Over the hard limit now: the next briefs are accepted and held, saying why.
        held = [await held_job(system, "storyboard", webhook_url=receiver.url) for _ in (1, 2)]
        assert all(job["estimated_cost"] > 0 for job in held)  # priced all the same
        assert held[0]["paused"]["budget"]["hard_limit_usd"] == ONE_CENT
        # Their webhook says so, with the pause.
        paused = await receiver.got("paused")
        assert paused.json["status"] == "paused" and paused.json["job_id"] in {
            job["id"] for job in held
        }
        assert paused.json["paused"]["stage"] == "storyboard"

        # A caller that prefers a refusal asks for it: 429 until UTC midnight.
        status, error, response = await submit(system, "?on_budget=reject")
        assert status == 429 and error["error"]["code"] == "daily_budget_exhausted"
        assert 0 < int(response.headers["Retry-After"]) <= 86_400
        status, error, _ = await submit(system, "?on_budget=later")
        assert status == 400 and error["error"]["details"][0]["field"] == "on_budget"
        # The job list filters paused jobs.
        status, page, _ = await system.call("GET", "/api/v2/jobs?status=paused")
        assert status == 200
        assert {job["id"] for job in page["items"]} == {job["id"] for job in held}

        # Only an admin reads or sets the limits; a bad value is named.
        for method in ("GET", "PUT"):
            status, error, _ = await system.call(
                method, "/api/v2/billing/budget", json={"hard_limit_usd": 99, "reason": "mine"}
            )
            assert status == 403 and error["error"]["code"] == "forbidden"
        for body, field in (
            ({"hard_limit_usd": -1, "reason": "launch"}, "hard_limit_usd"),
            ({"hard_limit_usd": "lots", "reason": "launch"}, "hard_limit_usd"),
            ({"hard_limit_usd": 5, "soft_limit_usd": 9, "reason": "launch"}, "soft_limit_usd"),
            ({"hard_limit_usd": 5}, "reason"),
        ):
            status, error, _ = await system.call(
                "PUT", "/api/v2/billing/budget", ADMIN, "admin", json=body
            )
            assert status == 422, error
            assert [d["field"] for d in error["error"]["details"]] == [field]
        status, limits = await budget(system)
        assert limits["overridden"] is False and limits["changes"] == []
        assert limits["budget"]["state"] == "hard_exceeded"

        # The first storyboard is made; the held jobs wait, however often they are looked at.
        await system.wait_status(first["id"], "storyboard_ready", timeout_s=60)
        await sweeps_without_resuming(system, *held)

        # An admin raises today's limit: the change is audited and the held jobs go on.
        limits = await set_limit(system, 50.0, "launch day: the spring campaign")
        assert limits["overridden"] is True and limits["budget"]["hard_limit_usd"] == 50.0
        assert limits["default_hard_limit_usd"] == ONE_CENT
        change = limits["changes"][0]
        assert change["changed_by"] == ADMIN and change["reason"].startswith("launch day")
        assert (change["old_hard_limit_usd"], change["new_hard_limit_usd"]) == (ONE_CENT, 50.0)
        # The soft limit was below the new hard one, so it stays.
        assert change["new_soft_limit_usd"] == change["old_soft_limit_usd"] == ONE_CENT / 2
        assert audit_rows(tmp_path) == [
            (ADMIN, ONE_CENT, 50.0, ONE_CENT / 2, "launch day: the spring campaign")
        ]
        for job in held:
            ready = await system.wait_status(job["id"], "storyboard_ready", timeout_s=60)
            assert ready["paused"] is None and ready["storyboard"]["scenes"]
        resumed = await receiver.got("resumed")
        assert resumed.json["job_id"] in {job["id"] for job in held}
        assert resumed.json["status"] == "queued" and resumed.json["paused"] is None
        ready = await receiver.got("storyboard_ready")
        assert ready.json["job_id"] in {job["id"] for job in held}


async def test_a_render_a_refinement_and_a_retry_wait_for_budget_too(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with (
        started_fake() as fake,
        paid_system(nats_server, tmp_path, fake, 50.0) as system,
    ):
        # A job fails on the provider's side (it refuses the brief), and can be retried.
        fake.set_faults(Faults(content_policy_fraction=1.0))
        status, failing, _ = await eventually(
            lambda: submit(system), lambda answer: answer[0] != 503
        )
        assert status == 202
        failed = await system.wait_status(failing["id"], "failed", timeout_s=60)
        assert failed["retryable"] is True and failed["failed_stage"] == "storyboard"
        fake.set_faults(Faults())

        # Two storyboards are made within the budget; one is approved.
        status, first, _ = await submit(system)
        assert status == 202
        status, second, _ = await submit(system)
        assert status == 202
        for job in (first, second):
            await system.wait_status(job["id"], "storyboard_ready", timeout_s=60)
        status, _, _ = await system.call("POST", f"/api/v2/jobs/{first['id']}/approve")
        assert status == 200

        # An admin lowers today's limit below what is already spent.
        await set_limit(system, 0.001, "hold everything: provider invoice under review")

        # The approved storyboard's render is accepted and held, re-priced as usual.
        status, rendering, _ = await system.call("POST", f"/api/v2/jobs/{first['id']}/render")
        assert status == 202
        assert_paused(rendering, "render")
        assert rendering["approved"] is True and rendering["estimated_cost"] > 1

        # A refinement is paid work as well: held, and the approval it withdraws is gone.
        status, refining, _ = await system.call(
            "POST",
            f"/api/v2/jobs/{second['id']}/scenes/1/refine",
            json={"feedback": "Show the bottle closer"},
        )
        assert status == 202
        assert_paused(refining, "refine")
        assert refining["approved"] is False

        # The failed job's retry waits too, as its next attempt.
        status, retried, _ = await system.call("POST", f"/api/v2/jobs/{failing['id']}/retry")
        assert status == 202
        assert_paused(retried, "storyboard")
        assert retried["retry_count"] == 1 and retried["failed_stage"] is None
        assert retried["progress"]["message"] == retried["paused"]["message"]

        # A paused job takes only a cancel: no edit, refinement or render meanwhile.
        third = await held_job(system, "storyboard")
        status, error, _ = await system.call(
            "POST", f"/api/v2/jobs/{first['id']}/scenes/1/refine", json={"feedback": "Warmer"}
        )
        assert status == 409 and error["error"]["details"]["status"] == "paused"
        status, error, _ = await system.call("POST", f"/api/v2/jobs/{second['id']}/render")
        assert status == 409 and error["error"]["details"]["status"] == "paused"
        status, canceled, _ = await system.call("POST", f"/api/v2/jobs/{third['id']}/cancel")
        assert status == 200 and canceled["status"] == "canceled"
        assert canceled["paused"] is None

        # The limit is raised: the render runs to the end, the refinement comes back.
        await set_limit(system, 50.0, "invoice checked")
        done = await system.wait_status(first["id"], "completed", timeout_s=120)
        assert done["outputs"] and done["paused"] is None
        refined = await eventually(
            lambda: system.job(second["id"]),
            lambda job: (
                job["status"] == "storyboard_ready"
                and job["storyboard"]["scenes"][0]["revision"] == 2
            ),
            timeout_s=60,
        )
        assert refined["progress"]["message"] == "scene 1 refined"
        retried = await system.wait_status(failing["id"], "storyboard_ready", timeout_s=60)
        assert retried["retry_count"] == 1
        # The canceled job stayed canceled.
        assert (await system.job(third["id"]))["status"] == "canceled"

        # Billing reserved the refinement like any paid stage, once, for that revision.
        with contextlib.closing(sqlite3.connect(tmp_path / "billing.db")) as conn:
            stages = conn.execute(
                "SELECT commit_id, stage, amount_usd FROM commitments WHERE job_id = ?",
                (second["id"],),
            ).fetchall()
        refine = [row for row in stages if row[1] == "refine"]
        assert [row[0] for row in refine] == [f"{second['id']}:refine:1:1"]
        assert 0 < refine[0][2] < 0.05


async def test_paused_jobs_resume_when_the_utc_day_rolls_over(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # Billing's clock stands a second before midnight.
    today = datetime.now(UTC).date()
    clock = ManualClock(datetime.combine(today, time(23, 59, 59), UTC))
    async with (
        started_fake() as fake,
        paid_system(nats_server, tmp_path, fake, 1.0, clock=clock) as system,
    ):
        announced: list[BudgetChanged] = []

        async def hear(event: Event[Any]) -> None:
            announced.append(event.data)

        await system.bus.subscribe_broadcast(BudgetChanged, hear)

        # Today's money is spent: a dollar charged at 23:59:58.
        await system.bus.publish(spent_today(clock.now - timedelta(seconds=1)))
        await eventually(
            lambda: budget(system), lambda answer: answer[1]["budget"]["spent_today_usd"] >= 1
        )
        job = await held_job(system, "storyboard")
        assert job["paused"]["budget"]["day"] == today.isoformat()
        await sweeps_without_resuming(system, job)

        # Midnight: billing announces the new day, and the job goes on by itself.
        clock.now = datetime.combine(today + timedelta(days=1), time(0, 0, 1), UTC)
        changed = await eventually(lambda: _heard(announced), timeout_s=10)
        assert changed.reason == "day_rolled_over" and changed.day == today + timedelta(days=1)
        assert changed.hard_limit_usd == 1.0  # the configured limit: no override that day
        ready = await system.wait_status(job["id"], "storyboard_ready", timeout_s=60)
        assert ready["paused"] is None


async def _heard(announced: list[BudgetChanged]) -> BudgetChanged | None:
    return announced[-1] if announced else None


def spent_today(at: datetime) -> Event[CostRecorded]:
    cost = CostRecorded(
        job_id="earlier-job",
        client_id="client-b",
        stage="render",
        scene=1,
        provider="replicate",
        model="wan-video/wan-2.1-i2v-480p",
        prediction_id="spent-today",
        unit="video_second",
        units=10,
        unit_price_usd=0.1,
        amount_usd=1.0,
        occurred_at=at,
    )
    return cost.envelope(job_id=cost.job_id, client_id=cost.client_id, event_id=cost.event_id)


async def test_a_restarted_gateway_resumes_the_jobs_paused_before(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with started_fake() as fake:
        # Jobs are paused, then the gateway (and everything with it) stops.
        async with paid_system(nats_server, tmp_path, fake, ONE_CENT) as system:
            status, first, _ = await eventually(
                lambda: submit(system), lambda answer: answer[0] != 503
            )
            assert status == 202 and first["status"] == "queued"
            held = [await held_job(system, "storyboard") for _ in (1, 2)]

        # Meanwhile the budget was raised in the configuration; nobody announced it. A new
        # gateway on the same database finds its paused jobs on its own and resumes them.
        async with paid_system(
            nats_server, tmp_path, fake, 50.0, paused_resume_interval_s=0.5
        ) as system:
            for job in held:
                ready = await system.wait_status(job["id"], "storyboard_ready", timeout_s=60)
                assert ready["paused"] is None
