"""`reelsmith` and a job paused for the daily budget, in-process against the real system on
the fake Replicate: `status` and `jobs` say it is paused and why, `--on-budget reject`
gives the refusal instead, and `generate --wait` says why it waits and follows the job on
once an admin raises today's limit. Also the display of a pause, driven directly."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from rich.console import Console

from reelsmith_cli.display import ProgressView, pause_text
from tests.cli.support import cli
from tests.integration.test_budget_pause import ONE_CENT, paid_system, set_limit
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import started_fake
from tests.support.system import System
from tests.support.waiting import eventually

BRIEF = (
    "--campaign",
    "spring-cli",
    "--prompt",
    "Introducing Glow Serum. Brightens skin in 7 days. Vegan.",
    "--platform",
    "tiktok",
    "--duration",
    "15",
)
PAUSE = {
    "reason": "daily_budget_exhausted",
    "stage": "render",
    "since": "2026-05-01T12:00:00Z",
    "message": "paused: ...",
    "resumes": "at UTC midnight, or as soon as an admin raises today's limit",
    "budget": {
        "day": "2026-05-01",
        "spent_today_usd": 140.5,
        "committed_usd": 9.5,
        "hard_limit_usd": 150.0,
        "resets_at": "2026-05-02T00:00:00Z",
    },
}


@pytest_asyncio.fixture
async def budget_system(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[System]:
    """Paid work on the fake Replicate, billing with a one-cent hard limit."""
    async with (
        started_fake() as fake,
        paid_system(nats_server, tmp_path, fake, ONE_CENT) as system,
    ):
        yield system


def test_a_pause_reads_as_why_what_and_until_when() -> None:
    job = {"id": "j", "status": "paused", "paused": PAUSE}
    assert pause_text(job) == (
        "the daily budget is exhausted; the render starts at UTC midnight, or as soon as an"
        " admin raises today's limit (today: $140.50 spent, $9.50 reserved, limit $150.00)"
    )
    assert pause_text({"status": "queued", "paused": None}) is None

    # Following a job: the pause is said once, the job's bars stay where they were.
    screen = io.StringIO()
    with ProgressView(Console(file=screen, width=200)) as view:
        for _ in range(3):
            view.update(job)
    (line,) = screen.getvalue().splitlines()
    assert line.startswith("paused           the daily budget is exhausted; the render")
    assert line.endswith("waiting (Ctrl-C stops waiting, not the job)")


async def test_the_cli_shows_a_paused_job_and_waits_for_it(budget_system: System) -> None:
    system = budget_system
    # The first storyboard takes today's budget.
    first = await eventually(
        lambda: cli(system, "--json", "generate", *BRIEF), lambda run: run.code != 3
    )
    assert first.code == 0 and first.json["status"] == "queued"

    # A caller that prefers a refusal: exit 2 with the gateway's reason.
    refused = await cli(system, "generate", *BRIEF, "--on-budget", "reject")
    assert refused.code == 2 and "daily budget is exhausted" in refused.stderr

    # By default the brief is accepted and held; `status` says why and until when.
    held = await cli(system, "--json", "generate", *BRIEF)
    assert held.code == 0 and held.json["status"] == "paused"
    job_id = held.json["id"]
    shown = await cli(system, "status", job_id)
    flat = " ".join(shown.stdout.split())
    assert "status paused" in flat
    assert (
        "paused the daily budget is exhausted; the storyboard starts at UTC midnight, or as"
        " soon as an admin raises today's limit (today: $0.00 spent, $0.01 reserved, limit"
        " $0.01)" in flat
    )
    listed = await cli(system, "jobs", "--status", "paused")
    assert re.search(rf"{job_id}\s+paused \(storyboard: budget\)", listed.stdout)

    # generate --wait follows a held brief: it says why it waits, and goes on once an
    # admin raises today's limit.
    waiting = asyncio.create_task(cli(system, "generate", *BRIEF, "--wait", "--poll"))
    paused = await eventually(lambda: paused_jobs(system), lambda jobs: len(jobs) == 2)
    await set_limit(system, 50.0)
    run = await asyncio.wait_for(waiting, 120)
    assert run.code == 0, run.stderr
    assert "paused           the daily budget is exhausted; the storyboard starts" in run.stderr
    made = re.search(r"Storyboard of ([0-9a-f]{32})", run.stdout)
    assert made is not None and made.group(1) in {job["id"] for job in paused}


async def paused_jobs(system: System) -> list[Any]:
    status, page, _ = await system.call("GET", "/api/v2/jobs?status=paused")
    assert status == 200
    return page["items"]  # type: ignore[no-any-return]
