"""Paid work held for the budget, driven directly against a real SQLite file: a command
given a pause writes what it would have written with the job `paused` and its request
kept; the resume loop later sends exactly that request; of two gateway replicas resuming
the same job, one wins; a cancel forgets the pause. Also the pure parts: when the loop
looks again, the pause block, a refinement's price, and the limits an admin may set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import pytest_asyncio
from pydantic import ValidationError

from services.billing.pricing import DEFAULT_PRICING_FILE, load_pricing, quote, refine_quote
from services.gateway.jobs.commands import JobStore
from services.gateway.jobs.lifecycle import Stage
from services.gateway.jobs.pauses import pause_for
from services.gateway.jobs.projection import Projection
from services.gateway.jobs.reservations import refine_terms, terms_of
from services.gateway.jobs.resume import MIDNIGHT_MARGIN_S, Resumer, next_look_s
from services.gateway.jobs.stage_requests import StageStart, load_request
from services.gateway.jobs.stages import Outcome
from shared.billing import BudgetState, LimitsUpdate
from shared.bus import Bus
from shared.db import Database
from shared.events import (
    SceneRefineRequested,
    StoryboardCompleted,
    StoryboardRequested,
)
from shared.models import GenerationRequest, JobStatus, Platform, Progress
from tests.support.gateway_db import a_storyboard, migrated_app_db

CLIENT = "client-a"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
REQUEST = GenerationRequest(
    campaign_id="spring",
    prompt="A linen shirt for hot days",
    platform=Platform.tiktok,
    duration_s=10,
    webhook_url="https://hooks.example.com/reelsmith",
)
BUDGET = BudgetState(
    day=NOW.date(),
    spent_today_usd=0.4,
    committed_usd=0.7,
    soft_limit_usd=0.5,
    hard_limit_usd=1.0,
    state="hard_exceeded",
    resets_at=datetime(2026, 5, 2, tzinfo=UTC),
    retry_after_s=43_200,
)


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_app_db(tmp_path) as database:
        yield database


def resumer(db: Database) -> Resumer:
    # The free backend reserves without billing, so the bus is never used.
    return Resumer(db, cast(Bus, None), "local", every_s=60.0)


async def outbox(db: Database) -> list[tuple[str, dict[str, Any]]]:
    rows = await db.fetchall("SELECT subject, payload FROM outbox ORDER BY rowid")
    return [(row["subject"], orjson.loads(row["payload"])) for row in rows]


async def kept(db: Database) -> list[str]:
    """The jobs `paused_jobs` holds a pause for."""
    return [row["job_id"] for row in await db.fetchall("SELECT job_id FROM paused_jobs")]


async def webhooks(db: Database, job_id: str) -> list[str]:
    rows = await db.fetchall(
        "SELECT type FROM webhook_deliveries WHERE job_id = ? ORDER BY rowid", (job_id,)
    )
    return [row["type"] for row in rows]


# --------------------------------------------------------------------------- the loop


def test_the_loop_looks_again_at_midnight_at_the_latest() -> None:
    # Far from midnight: the safety net's interval.
    assert next_look_s(NOW, 60.0) == 60.0
    # Half a minute before midnight: just after it, when the new day's budget begins.
    before_midnight = datetime(2026, 5, 1, 23, 59, 30, tzinfo=UTC)
    assert next_look_s(before_midnight, 60.0) == pytest.approx(30 + MIDNIGHT_MARGIN_S)
    # A clock in another zone means the same UTC midnight (01:59:30 in UTC+2).
    elsewhere = before_midnight.astimezone(timezone(timedelta(hours=2)))
    assert elsewhere.hour == 1
    assert next_look_s(elsewhere, 3600.0) == pytest.approx(30 + MIDNIGHT_MARGIN_S)


def test_a_pause_says_why_which_stage_waits_and_the_budget_then() -> None:
    pause = pause_for(Stage.render, BUDGET, NOW)
    assert pause.reason == "daily_budget_exhausted" and pause.stage == "render"
    assert pause.since == NOW
    assert pause.resumes == "at UTC midnight, or as soon as an admin raises today's limit"
    assert pause.message == (
        "paused: the daily budget is exhausted; the render starts at UTC midnight, or as soon"
        " as an admin raises today's limit"
    )
    assert pause.budget is not None
    assert (pause.budget.spent_today_usd, pause.budget.committed_usd) == (0.4, 0.7)
    assert pause.budget.hard_limit_usd == 1.0 and pause.budget.day == date(2026, 5, 1)
    assert pause_for(Stage.storyboard, None, NOW).budget is None


def test_a_held_request_round_trips_with_its_stage() -> None:
    refine = SceneRefineRequested(
        request=REQUEST, storyboard=a_storyboard(), scene_index=2, feedback="warmer"
    )
    held = StageStart(refine, Progress(stage="refining", message="refining scene 2"))
    again = StageStart.from_json(held.to_json())
    assert again == held and again.stage is Stage.refine
    # Resuming it reserves what the command reserved: the same scene, the same commit id.
    assert terms_of("job1", again.payload) == refine_terms("job1", REQUEST, a_storyboard(), 2)
    assert terms_of("job1", again.payload).commit_id == "job1:refine:2:1"
    assert terms_of("job1", again.payload).scene_durations_s == [5]


# --------------------------------------------------------------------------- store


async def test_a_held_storyboard_is_sent_as_the_command_would_have_sent_it(
    db: Database,
) -> None:
    jobs = JobStore(db)
    # A brief the budget cannot take: created, paused, its storyboard request kept back.
    pause = pause_for(Stage.storyboard, BUDGET, NOW)
    held = await jobs.create("held", CLIENT, REQUEST, pause=pause)
    assert held.job.status == JobStatus.paused and held.job.paused == pause
    assert held.job.progress.message == pause.message
    assert held.held is not None and held.held.stage is Stage.storyboard
    assert await kept(db) == ["held"]
    assert [subject for subject, _ in await outbox(db)] == ["jobs.created"]
    async with db.transaction() as tx:
        assert await load_request(tx, "held", Stage.storyboard) is None
    assert await webhooks(db, "held") == ["paused"]

    # The same brief the budget could take: what its command sends.
    await jobs.create("free", CLIENT, REQUEST)
    sent = {subject: data for subject, data in await outbox(db)}

    # Resumed: queued, and the very request the command sends.
    (outcome,) = await resumer(db).sweep()
    resumed = outcome.record
    assert resumed.job.status == JobStatus.queued and resumed.job.paused is None
    assert resumed.held is None and await kept(db) == []
    assert resumed.job.progress.message == "waiting for a storyboard worker"
    requests = [
        (subject, data)
        for subject, data in await outbox(db)
        if subject == StoryboardRequested.subject
    ]
    assert len(requests) == 2
    assert requests[-1][1]["job_id"] == "held"
    assert requests[-1][1]["data"] == sent[StoryboardRequested.subject]["data"]
    assert await webhooks(db, "held") == ["paused", "resumed"]
    # Nothing is left to resume.
    assert await resumer(db).sweep() == []


async def test_a_held_refinement_withdraws_the_approval_and_resumes_refining(
    db: Database,
) -> None:
    jobs, projection = JobStore(db), Projection(db)
    record = await jobs.create("job1", CLIENT, REQUEST)
    done = StoryboardCompleted(storyboard=a_storyboard())
    await projection.storyboard_completed(done.envelope(job_id="job1", client_id=CLIENT))
    await jobs.approve("job1", CLIENT)
    assert record.attempt == 1

    held = await jobs.request_refine("job1", 2, "warmer", pause_for(Stage.refine, BUDGET, NOW))
    assert held.job.status == JobStatus.paused and not held.job.approved
    assert held.job.paused is not None and held.job.paused.stage == "refine"

    (outcome,) = await resumer(db).sweep()
    assert outcome.record.job.status == JobStatus.refining
    assert outcome.record.job.progress.message == "refining scene 2"
    subject, event = (await outbox(db))[-1]
    assert subject == SceneRefineRequested.subject
    assert event["data"]["scene_index"] == 2 and event["data"]["feedback"] == "warmer"


async def test_a_canceled_pause_is_forgotten_and_never_resumed(db: Database) -> None:
    jobs = JobStore(db)
    await jobs.create("job1", CLIENT, REQUEST, pause=pause_for(Stage.storyboard, BUDGET, NOW))
    canceled = await jobs.cancel("job1")
    assert canceled.job.status == JobStatus.canceled
    assert canceled.job.paused is None and canceled.held is None
    assert await kept(db) == []
    assert await resumer(db).sweep() == []
    assert [subject for subject, _ in await outbox(db)] == ["jobs.created", "jobs.canceled"]


async def test_of_two_replicas_resuming_a_job_exactly_one_wins(
    db: Database, tmp_path: Path
) -> None:
    # Two gateways on one app.db (each its own connection), both woken by the same change.
    other = await Database.open(tmp_path / "app.db")
    try:
        jobs = JobStore(db)
        # Both read the same paused job, both are accepted by billing, both try to move it.
        await jobs.create("race", CLIENT, REQUEST, pause=pause_for(Stage.storyboard, BUDGET, NOW))
        one, two = await asyncio.gather(resumer(db)._try("race"), resumer(other)._try("race"))
        assert sorted([isinstance(one, Outcome), isinstance(two, Outcome)]) == [False, True]
        assert await webhooks(db, "race") == ["paused", "resumed"]
        for n in range(5):
            await jobs.create(
                f"job{n}", CLIENT, REQUEST, pause=pause_for(Stage.storyboard, BUDGET, NOW)
            )
        first, second = await asyncio.gather(resumer(db).sweep(), resumer(other).sweep())
    finally:
        await other.close()

    # Every job resumed once: one request each, one `resumed` webhook each.
    resumed = [outcome.record.job.id for outcome in [*first, *second]]
    assert sorted(resumed) == [f"job{n}" for n in range(5)]
    requests = [
        data["job_id"]
        for subject, data in await outbox(db)
        if subject == StoryboardRequested.subject
    ]
    assert sorted(requests) == sorted(["race", *resumed])
    for job_id in resumed:
        assert await webhooks(db, job_id) == ["paused", "resumed"]


async def test_paused_jobs_are_resumed_the_longest_paused_first(db: Database) -> None:
    jobs = JobStore(db)
    for n, minutes in enumerate((30, 10, 20)):
        pause = pause_for(Stage.storyboard, BUDGET, NOW - timedelta(minutes=minutes))
        await jobs.create(f"job{n}", CLIENT, REQUEST, pause=pause)
    outcomes = await resumer(db).sweep()
    assert [outcome.record.job.id for outcome in outcomes] == ["job0", "job2", "job1"]


# --------------------------------------------------------------------------- billing's side


def test_a_refinement_is_priced_as_one_scene_of_the_storyboard_stage() -> None:
    table = load_pricing(DEFAULT_PRICING_FILE)
    whole = quote(REQUEST, "replicate", table)
    refine = refine_quote(REQUEST, "replicate", table, 4.0)
    # The script and frame roles, for one scene, on the storyboard's models.
    assert {item.role for item in refine.line_items} == {"script", "frame"}
    assert {item.stage for item in refine.line_items} == {"refine"}
    assert refine.scene_count == 1 and refine.scene_durations_s == [4.0]
    frames = [item for item in refine.line_items if item.unit == "image"]
    assert [item.units for item in frames] == [1]
    storyboard_models = {i.model for i in whole.line_items if i.stage == "storyboard"}
    assert {item.model for item in refine.line_items} <= storyboard_models
    assert 0 < refine.stage_cost("refine") < whole.stage_cost("storyboard")
    assert whole.stage_cost("refine") == 0  # a brief's quote holds no refinement


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hard_limit_usd": 0, "reason": "launch"}, "hard_limit_usd"),
        ({"hard_limit_usd": -5, "reason": "launch"}, "hard_limit_usd"),
        ({"hard_limit_usd": 2e6, "reason": "launch"}, "hard_limit_usd"),
        ({"hard_limit_usd": 10, "soft_limit_usd": 11, "reason": "launch"}, "soft_limit_usd"),
        ({"hard_limit_usd": 10, "soft_limit_usd": 0, "reason": "launch"}, "soft_limit_usd"),
        ({"hard_limit_usd": 10, "reason": " x "}, "reason"),
        ({"hard_limit_usd": 10}, "reason"),
    ],
)
def test_limits_an_admin_may_not_set_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        LimitsUpdate.model_validate(body)
    assert [error["loc"] for error in invalid.value.errors()] == [(field,)]


def test_limits_an_admin_may_set() -> None:
    update = LimitsUpdate(hard_limit_usd=250, soft_limit_usd=250, reason="  launch day  ")
    assert update.reason == "launch day" and update.soft_limit_usd == update.hard_limit_usd
    assert LimitsUpdate(hard_limit_usd=0.5, reason="tight").soft_limit_usd is None
