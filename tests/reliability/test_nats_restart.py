"""Fault 2: nats-server is SIGKILLed and restarted (same port, same store) while 10 jobs
are in flight; every job completes and nothing is recorded twice: no event, no job row,
no clip or frame re-made needlessly, and on the paid backend no prediction created (paid
for) twice and no cost counted twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from shared.pricing import DEFAULT_PRICING_FILE, load_pricing
from tests.support.api import Api
from tests.support.file_versions import FileVersions
from tests.support.measurements import record_measurement
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import replicate_env, started_fake
from tests.support.stack import Stack
from tests.support.streams import stream_messages
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate

JOBS = 10
OUTAGE_S = 5.0
ONCE_PER_JOB = (
    "jobs.created",
    "jobs.storyboard.requested",
    "jobs.storyboard.completed",
    "jobs.approved",
    "jobs.render.requested",
    "jobs.render.completed",
)


@contextlib.asynccontextmanager
async def provider(backend: str) -> AsyncIterator[FakeReplicate | None]:
    if backend == "local":
        yield None
        return
    async with started_fake(latency_scale=0.01) as fake:
        yield fake


@pytest.mark.parametrize("backend", ["local", "replicate"])
@pytest.mark.timeout(240)
async def test_nats_restart_mid_flight_loses_and_duplicates_nothing(
    stack: Stack, own_nats: NatsServer, http: aiohttp.ClientSession, backend: str
) -> None:
    async with provider(backend) as fake:
        # The whole system as processes, two renderer replicas, on either backend.
        env = replicate_env(fake) if fake is not None else {}
        stack.add_all(**env)
        stack.add("renderer", **env)
        stack.start()
        await stack.ready()
        api = stack.api(http)
        frames = FileVersions(stack.storage, "storyboards/*/scene_*.jpg")
        clips = FileVersions(stack.storage, "videos/*/clips/*.mp4")

        async with frames.watching(), clips.watching():
            # Ten jobs run concurrently, each approved and rendered as soon as it can be: six
            # first, the other four once renders are under way, so that the outage catches
            # jobs in every stage.
            jobs = [await _submit(api, n) for n in range(6)]
            flows = [asyncio.create_task(_through_render(api, job["id"])) for job in jobs]
            await eventually(lambda: _statuses(api, jobs), lambda s: s["rendering"] >= 1, 60)
            late = await asyncio.gather(*(_submit(api, n) for n in range(6, JOBS)))
            jobs += late
            flows += [asyncio.create_task(_through_render(api, job["id"])) for job in late]

            # Then nats-server dies (SIGKILL) and stays down a while.
            before = await _statuses(api, jobs)
            assert own_nats.proc is not None
            own_nats.proc.kill()
            own_nats.proc.wait(timeout=10)
            killed_at = time.monotonic()

            # Polls keep answering while the bus is gone.
            during = await _statuses(api, jobs)
            assert sum(during.values()) == JOBS
            await asyncio.sleep(OUTAGE_S)  # the outage itself, not a synchronisation

            # It comes back on the same port and store; every job completes.
            own_nats.start()
            restarted_at = time.monotonic()
            finals = await asyncio.wait_for(asyncio.gather(*flows), timeout=180)
            recovered_s = time.monotonic() - restarted_at
        stats = fake.stats() if fake is not None else {}
        creates = stats.get("creates_total", 0)

    outcome = Counter(job["status"] for job in finals)
    stored = await stream_messages(stack.nats_url, "JOBS")
    per_job = Counter(
        (json.loads(m.data)["job_id"], m.subject) for m in stored if m.subject in ONCE_PER_JOB
    )
    duplicated = {key: n for key, n in per_job.items() if n > 1}
    missing = [(j["id"], s) for j in jobs for s in ONCE_PER_JOB if per_job[(j["id"], s)] == 0]
    rows = _job_rows(stack)
    cost_rows, cost_events = _cost_rows(stack), await _cost_events(stack)
    # One script and one voice-over per job, one frame and one clip per scene: anything
    # more was created (paid for) twice.
    needed = sum(2 + 2 * len(job["storyboard"]["scenes"]) for job in finals) if fake else 0

    record_measurement(
        f"nats_restart_{backend}",
        fault=f"nats-server SIGKILLed mid-flight, down {OUTAGE_S:.0f} s, restarted on its store "
        f"({backend} backend)",
        jobs=JOBS,
        statuses_at_kill=dict(before),
        completed=outcome["completed"],
        failed=outcome["failed"],
        stuck=JOBS - sum(outcome.values()),
        duplicate_events=len(duplicated),
        missing_events=len(missing),
        duplicate_job_rows=sum(n - 1 for n in rows.values()),
        cost_rows=sum(cost_rows.values()),
        duplicate_cost_rows=sum(n - 1 for n in cost_rows.values()),
        cost_events=sum(cost_events.values()),
        predictions_created=creates,
        predictions_by_model=stats.get("creates", {}),
        predictions_by_status=stats.get("predictions_by_status", {}),
        predictions_needed=needed,
        predictions_paid_twice=creates - needed,
        frames_redrawn=len(frames.rewritten()),
        clips_reencoded=len(clips.rewritten()),
        outage_s=round(restarted_at - killed_at, 2),
        time_to_recover_s=round(recovered_s, 2),
    )
    assert outcome == {"completed": JOBS}, [(j["id"], j["error_message"]) for j in finals]
    assert duplicated == {} and missing == []
    assert len(rows) == JOBS and set(rows.values()) == {1}
    assert set(cost_rows.values()) <= {1} and set(cost_events.values()) <= {1}
    # Nothing seeded is ever made twice (a retry finds its earlier prediction by the seed).
    # The voice model takes no seed: a voice-over whose prediction id could not be saved
    # while the bus was down is made again, at most once in this outage (docs/reliability.md,
    # "the lesser harm").
    voice = load_pricing(DEFAULT_PRICING_FILE).tier("replicate", "standard")["voice"]
    voices_again = stats.get("creates", {}).get(voice, 0) - (JOBS if fake else 0)
    assert 0 <= voices_again <= 1
    assert creates == needed + voices_again
    if backend == "replicate":
        # Every prediction made was billed, once.
        assert sum(cost_rows.values()) >= creates > 0


async def _submit(api: Api, n: int) -> dict[str, Any]:
    body = await _retrying(
        lambda: api.call("POST", "/api/v2/jobs", json={**_brief(n)}), expected=202
    )
    return body  # type: ignore[no-any-return]


def _brief(n: int) -> dict[str, Any]:
    return {
        "campaign_id": f"outage-{n}",
        # A prompt of its own: the fake counts a create with the same input as a duplicate.
        "prompt": f"Introducing Glow Serum No. {n}. Brightens skin in {n + 2} days. Vegan.",
        "platform": "tiktok",
        "duration_s": 5,
    }


async def _through_render(api: Api, job_id: str) -> dict[str, Any]:
    await api.wait_status(job_id, "storyboard_ready", timeout_s=120)
    path = f"/api/v2/jobs/{job_id}"
    await _retrying(lambda: api.call("POST", f"{path}/approve"), expected=200)
    await _retrying(lambda: api.call("POST", f"{path}/render"), expected=202)
    return await api.wait_final(job_id, timeout_s=180)


async def _retrying(action: Any, expected: int) -> Any:
    """A client retries what failed in transport or answered 503 (billing cannot be reached
    while NATS is down, or is still starting); any other answer is final."""
    for _ in range(150):
        try:
            status, body = await action()
        except (aiohttp.ClientError, TimeoutError):
            status, body = None, None
        if status == expected:
            return body
        assert status in (None, 503), (status, body)
        await asyncio.sleep(0.2)
    raise AssertionError("the command never got through")


async def _statuses(api: Api, jobs: list[dict[str, Any]]) -> Counter[str]:
    found = await asyncio.gather(*(api.job(job["id"]) for job in jobs))
    return Counter(job["status"] for job in found)


def _job_rows(stack: Stack) -> Counter[str]:
    with sqlite3.connect(stack.database("gateway")) as db:
        return Counter(row[0] for row in db.execute("SELECT id FROM generated_videos"))


def _cost_rows(stack: Stack) -> Counter[str]:
    """Ledger rows per (provider, prediction, kind): a charge counted twice shows as 2."""
    with sqlite3.connect(stack.database("billing")) as db:
        return Counter(
            "/".join(row)
            for row in db.execute("SELECT provider, prediction_id, kind FROM cost_ledger")
        )


async def _cost_events(stack: Stack) -> Counter[str]:
    """`billing.cost.recorded` events stored per charge (de-duplication must keep one)."""
    found: Counter[str] = Counter()
    for message in await stream_messages(stack.nats_url, "BILLING"):
        if message.subject.startswith("billing.cost.recorded"):
            data = json.loads(message.data)["data"]
            found[f"{data['prediction_id']}/{data.get('kind') or data['unit']}"] += 1
    return found
