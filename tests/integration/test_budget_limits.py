"""The billing service's side of issue #17 on a real nats-server: a refinement is reserved
like any paid stage (priced for its one scene, once per revision); an admin sets today's
limits over `billing.limits.set`, audited and announced on `billing.budget.changed`; the
next UTC day starts from the configured limits again."""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from services.gateway.clients.billing import BillingError, budget_limits, set_limits
from shared.billing import BudgetChanged, LimitsUpdate
from shared.events import Event
from tests.integration.test_billing import HARD_USD, SOFT_USD, Billing, billing
from tests.support.waiting import eventually

__all__ = ["billing"]  # the fixture, imported for pytest


def job_estimate(billing: Billing, job_id: str) -> float | None:
    path = billing.settings.database_path
    with contextlib.closing(sqlite3.connect(path)) as conn:
        row = conn.execute(
            "SELECT estimated_usd FROM job_costs WHERE job_id = ?", (job_id,)
        ).fetchone()
    return None if row is None else float(row[0])


async def test_a_refinement_is_reserved_for_its_scene_once_per_revision(billing: Billing) -> None:
    # The job's storyboard is reserved with the brief's estimate.
    storyboard = await billing.commit("job-r", stage="storyboard")
    assert storyboard.accepted
    estimate = storyboard.quote.estimated_cost
    assert job_estimate(billing, "job-r") == estimate

    # Refining scene 2 (4.3 s) reserves one scene's script and frame.
    refine = await billing.commit(
        "job-r", stage="refine", scene_durations_s=[4.3], commit_id="job-r:refine:2:1"
    )
    assert refine.accepted and refine.stage == "refine"
    assert {(item.role, item.stage) for item in refine.quote.line_items} == {
        ("script", "refine"),
        ("frame", "refine"),
    }
    assert [item.units for item in refine.quote.line_items if item.unit == "image"] == [1]
    assert refine.amount_usd == refine.quote.stage_cost("refine")
    assert 0 < refine.amount_usd < storyboard.amount_usd
    # ... counted in today's exposure, but not in the job's estimate (the brief's quote).
    assert refine.budget.committed_usd == pytest.approx(storyboard.amount_usd + refine.amount_usd)
    assert job_estimate(billing, "job-r") == estimate

    # Asked again (a resume after a crash, a second gateway): reserved once.
    again = await billing.commit(
        "job-r", stage="refine", scene_durations_s=[4.3], commit_id="job-r:refine:2:1"
    )
    assert again.accepted and again.amount_usd == refine.amount_usd
    assert again.budget.committed_usd == pytest.approx(refine.budget.committed_usd)
    # The scene's next revision is a new refinement.
    next_one = await billing.commit(
        "job-r", stage="refine", scene_durations_s=[4.3], commit_id="job-r:refine:2:2"
    )
    assert next_one.budget.committed_usd > refine.budget.committed_usd

    # A refine commit must say how long its scene is.
    with pytest.raises(BillingError) as refused:
        await billing.commit("job-r", stage="refine", commit_id="job-r:refine:3:1")
    assert refused.value.code == "invalid_request"
    assert "scene_durations_s" in refused.value.message


async def test_an_admin_sets_todays_limits_audited_and_announced(billing: Billing) -> None:
    announced: list[Event[Any]] = []

    async def hear(event: Event[Any]) -> None:
        announced.append(event)

    await billing.bus.subscribe_broadcast(BudgetChanged, hear)

    # Today's money is spent: new paid work is refused.
    await billing.record(HARD_USD, job_id="job-0", prediction_id="p-all")
    await billing.drained()
    assert not (await billing.commit("job-1", stage="storyboard")).accepted
    limits = await budget_limits(billing.bus)
    assert limits.overridden is False and limits.changes == []
    assert (limits.default_soft_limit_usd, limits.default_hard_limit_usd) == (SOFT_USD, HARD_USD)
    assert limits.budget.state == "hard_exceeded"

    # An admin doubles today's hard limit; the soft one stays.
    update = LimitsUpdate(hard_limit_usd=2 * HARD_USD, reason="launch day")
    limits = await set_limits(billing.bus, update, "ops")
    assert limits.overridden is True
    assert limits.budget.hard_limit_usd == 2 * HARD_USD
    assert limits.budget.soft_limit_usd == SOFT_USD
    assert limits.budget.state == "soft_exceeded"
    (change,) = limits.changes
    assert (change.changed_by, change.reason, change.day) == (
        "ops",
        "launch day",
        limits.budget.day,
    )
    assert (change.old_hard_limit_usd, change.new_hard_limit_usd) == (HARD_USD, 2 * HARD_USD)
    assert change.changed_at == billing.clock.now
    assert (await billing.commit("job-1", stage="storyboard")).accepted

    # Announced, for whoever holds paid work back.
    event = await eventually(lambda: _last(announced))
    assert event.client_id == "ops" and event.job_id == ""
    changed: BudgetChanged = event.data
    assert changed.reason == "limits_changed" and changed.changed_by == "ops"
    assert (changed.soft_limit_usd, changed.hard_limit_usd) == (SOFT_USD, 2 * HARD_USD)
    assert changed.day == billing.clock.now.date()

    # A hard limit below the soft one takes the soft one down with it.
    limits = await set_limits(billing.bus, LimitsUpdate(hard_limit_usd=3, reason="careful"), "ops")
    assert (limits.budget.soft_limit_usd, limits.budget.hard_limit_usd) == (3, 3)
    assert [c.new_hard_limit_usd for c in limits.changes] == [3, 2 * HARD_USD]  # newest first

    # Nonsense is refused at the edge, naming the field.
    body = {"hard_limit_usd": 5, "soft_limit_usd": 9, "reason": "oops", "changed_by": "ops"}
    answer = await billing.bus.nc.request("billing.limits.set", json.dumps(body).encode(), 5)
    error = json.loads(answer.data)["error"]
    assert error["code"] == "invalid_request"
    assert [d["loc"] for d in error["details"]] == [["soft_limit_usd"]]

    # The override is today's only: tomorrow starts from the configured limits, and the
    # audit trail still shows yesterday's changes.
    billing.clock.now += timedelta(days=1)
    limits = await budget_limits(billing.bus)
    assert limits.overridden is False and limits.budget.hard_limit_usd == HARD_USD
    assert len(limits.changes) == 2
    assert len((await budget_limits(billing.bus, days=1)).changes) == 0


async def _last(items: list[Event[Any]]) -> Event[Any] | None:
    return items[-1] if items else None


def test_the_contract_document_lists_every_field_of_the_budget_announcement() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "billing-events.md").read_text()
    section = doc.split(f"### `{BudgetChanged.subject}`", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE))
    assert documented == set(BudgetChanged.model_fields)
