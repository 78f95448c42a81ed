"""The console shows a job paused for the daily budget and why, in a real Chromium: the
status and the reason line with today's budget, the job list's badge and its `paused`
filter; and, once an admin raises today's limit, the job going on by itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from playwright.async_api import Page, expect

from tests.browser.checks import Screenshots, assert_accessible
from tests.browser.conftest import ARTIFACTS
from tests.integration.test_budget_pause import ONE_CENT, paid_system, set_limit, submit
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import started_fake
from tests.support.system import System
from tests.support.waiting import eventually

CLIENT = "client-a"


@pytest_asyncio.fixture
async def budget_system(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[System]:
    """Paid work on the fake Replicate, billing with a one-cent hard limit."""
    async with (
        started_fake() as fake,
        paid_system(nats_server, tmp_path, fake, ONE_CENT) as system,
    ):
        yield system


async def test_the_console_shows_a_paused_job_and_why(budget_system: System, page: Page) -> None:
    system = budget_system
    shots = Screenshots(page, ARTIFACTS, "paused")
    # The first storyboard takes today's budget; the second brief is held.
    status, first, _ = await eventually(lambda: submit(system), lambda answer: answer[0] != 503)
    assert status == 202 and first["status"] == "queued"
    status, held, _ = await submit(system, campaign_id="held-campaign")
    assert status == 202 and held["status"] == "paused"
    job: dict[str, Any] = held

    # Opened from its link: the status says paused, the line under it why and until when.
    await page.goto(f"{system.base_url}/#job={job['id']}")
    await page.get_by_label("Bearer token").fill(system.token(CLIENT))
    await page.get_by_role("button", name="Sign in with token").click()
    await expect(page.locator("#job-status")).to_have_text("Paused: waiting for budget")
    note = page.locator("#job-paused")
    await expect(note).to_be_visible()
    await expect(note.locator(".paused-reason")).to_have_text(
        "Paused before the storyboard: today's budget for paid work is used up."
    )
    await expect(note.locator(".paused-budget")).to_contain_text("reserved of $0.01.")
    await expect(note.locator(".paused-since")).to_contain_text(
        "it goes on at UTC midnight, or as soon as an admin raises today's limit."
    )
    await expect(note).to_have_attribute("data-stage", "storyboard")
    # Where it stands: at the brief, not yet writing the storyboard. Only a cancel is offered.
    await expect(page.locator("#job-steps li.current")).to_have_text("Brief")
    await expect(page.locator("#cancel-button")).to_be_visible()
    await expect(page.locator("#approve-button")).to_be_disabled()
    await expect(page.locator("#render-button")).to_be_disabled()

    # The job list shows the pause; its filter narrows the list to paused jobs.
    row = page.locator("#jobs-list li", has_text="held-campaign")
    await expect(row.locator(".paused-badge")).to_have_text(
        "Paused before the storyboard: today's budget for paid work is used up."
    )
    await expect(page.locator("#jobs-list li")).to_have_count(2)
    await page.get_by_label("Show").select_option("paused")
    await expect(page.locator("#jobs-list li")).to_have_count(1)
    await expect(page.locator("#jobs-list li")).to_contain_text("held-campaign")
    await assert_accessible(page, min_controls=10)
    await shots.take("paused")

    # An admin raises today's limit: the console follows the job on to its storyboard.
    await set_limit(system, 50.0)
    await expect(page.locator("#job-status")).to_have_text(
        "Storyboard ready for review", timeout=60_000
    )
    await expect(note).to_be_hidden()
    await page.get_by_role("button", name="Refresh jobs").click()
    await expect(page.locator("#jobs-list li")).to_have_text("No paused jobs.")
    await shots.take("resumed")
