"""The stuck-job reaper: a stage that makes no progress for STUCK_JOB_TIMEOUT_S is sent
again as the next attempt, up to MAX_JOB_RETRIES times, then failed with a clear reason;
workers drop the requests of attempts the job has moved past; two gateways sharing the
database never both retry the same job."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import REGISTRY

from services.gateway.jobs.reaper import Reaper, announcer
from shared.attempts import current_attempt
from shared.db import Database
from shared.events import ExportRequested, RenderRequested, StoryboardRequested
from tests.support.nats_server import NatsServer
from tests.support.streams import stream_messages
from tests.support.system import System, running_system
from tests.support.waiting import eventually


async def requests_for(system: System, subject: str, job_id: str) -> list[dict[str, Any]]:
    """The envelopes of every `subject` message about `job_id` in the JOBS stream."""
    stored = await stream_messages(system.settings.nats_url, "JOBS")
    envelopes = [orjson.loads(m.data) for m in stored if m.subject == subject]
    return [e for e in envelopes if e["job_id"] == job_id]


def superseded_count(subject: str) -> float:
    labels = {"subject": subject, "outcome": "superseded"}
    return REGISTRY.get_sample_value("reelsmith_events_consumed_total", labels) or 0.0


def failed_jobs(stage: str) -> float:
    value = REGISTRY.get_sample_value(
        "reelsmith_jobs_failed_total",
        {"platform": "tiktok", "backend": "local", "stage": stage},
    )
    return value or 0.0


async def test_stuck_storyboard_is_retried_then_failed(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # No storyboard worker runs; the gateway gives a stage 1 s and 2 retries.
    async with running_system(
        nats_server.url,
        tmp_path,
        storyboard_workers=0,
        renderer_workers=0,
        stuck_job_timeout_s=1.0,
        max_job_retries=2,
    ) as system:
        failed_before = failed_jobs("storyboard")
        job = await system.create_job()

        # The reaper sends the request again as attempt 2, then 3 ...
        retried = await eventually(
            lambda: system.job(job["id"]), lambda j: j["retry_count"] >= 1, timeout_s=10
        )
        assert retried["status"] == "queued" and "retry 1 of 2" in retried["progress"]["message"]

        # ... and after the second retry fails the stage with a reason a person can read.
        failed = await system.wait_status(job["id"], "failed", timeout_s=15)
        assert failed["retry_count"] == 2
        assert failed["failed_stage"] == "storyboard"
        assert failed["retryable"] is True
        assert failed["error_message"] == (
            "the storyboard stalled: no progress for 1 s, even after 2 automatic retries"
        )
        # A job the reaper fails counts as failed, as one the workers fail does.
        assert failed_jobs("storyboard") == failed_before + 1

        # Every request went out through the outbox with its own attempt, and the workers
        # are told the job has moved past all of them.
        sent = await eventually(
            lambda: requests_for(system, StoryboardRequested.subject, job["id"]),
            lambda found: len(found) == 3,
        )
        assert sorted(e["attempt"] for e in sent) == [1, 2, 3]
        assert len({e["id"] for e in sent}) == 3
        assert await eventually(lambda: current_attempt(system.bus.js, job["id"])) == 4
        assert await system.relay.pending() == 0


async def test_retried_storyboard_completes_and_the_stale_request_is_dropped(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with running_system(
        nats_server.url,
        tmp_path,
        storyboard_workers=0,
        renderer_workers=0,
        stuck_job_timeout_s=2.0,
        max_job_retries=2,
    ) as system:
        # The storyboard worker is down when the brief arrives; the reaper retries.
        job = await system.create_job()
        await eventually(
            lambda: current_attempt(system.bus.js, job["id"]), lambda n: n == 2, timeout_s=10
        )
        dropped_before = superseded_count(StoryboardRequested.subject)

        # The worker comes back: it drops attempt 1's request and draws attempt 2's.
        system.start_storyboard_worker()
        done = await system.wait_status(job["id"], "storyboard_ready", timeout_s=30)
        assert done["retry_count"] == 1
        assert done["error_message"] is None and done["failed_stage"] is None
        assert len(done["storyboard"]["scenes"]) >= 3
        await system.drained("storyboard")
        assert superseded_count(StoryboardRequested.subject) == dropped_before + 1


async def test_two_reapers_retry_a_stuck_job_once(nats_server: NatsServer, tmp_path: Path) -> None:
    # The app's own reaper waits an hour; two more, each on its own connection to the same
    # database (as two gateway replicas would be), are given 0.3 s.
    async with running_system(
        nats_server.url, tmp_path, storyboard_workers=0, stuck_job_timeout_s=3600.0
    ) as system:
        job = await system.create_job()
        second = await Database.open(system.settings.database_path)
        try:
            reapers = [Reaper(db, 0.3, 2) for db in (system.db, second)]

            # Both sweep at the same moment, over and over, until one acts on the job.
            async def both() -> list[Any]:
                results = await asyncio.gather(*(r.sweep() for r in reapers))
                return [outcome for result in results for outcome in result]

            outcomes = await eventually(both, timeout_s=10)
        finally:
            await second.close()

        # Exactly one claimed it: one new attempt, one retry, one request in the outbox.
        assert len(outcomes) == 1
        assert outcomes[0].attempt == 2
        row = await system.db.fetchone(
            "SELECT attempt, retry_count FROM generated_videos WHERE id = ?", (job["id"],)
        )
        assert (row["attempt"], row["retry_count"]) == (2, 1)
        queued = await system.db.fetchall(
            "SELECT payload FROM outbox WHERE subject = ?", (StoryboardRequested.subject,)
        )
        assert sorted(orjson.loads(r["payload"])["attempt"] for r in queued) == [1, 2]


async def test_stuck_render_fails_with_its_stage(nats_server: NatsServer, tmp_path: Path) -> None:
    # The storyboard is made; no renderer runs; a render stage gets 1.5 s and no retry.
    async with running_system(
        nats_server.url,
        tmp_path,
        renderer_workers=0,
        stuck_job_timeout_s=1.5,
        max_job_retries=0,
    ) as system:
        job = await system.approved_job()
        status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
        assert status == 202 and body["status"] == "rendering"

        # Without retries the render is failed at once when it is found stuck.
        failed = await system.wait_status(job["id"], "failed", timeout_s=15)
        assert failed["failed_stage"] == "render"
        assert failed["retry_count"] == 0
        assert failed["error_message"] == "the render stalled: no progress for 1.5 s"
        assert failed["retryable"] is True and failed["storyboard"] is not None
        # The failure was announced (billing releases the render's money on it).
        failures = await eventually(
            lambda: requests_for(system, "jobs.render.failed", job["id"]), lambda f: len(f) == 1
        )
        assert failures[0]["data"]["error_message"] == failed["error_message"]
        assert len(await requests_for(system, RenderRequested.subject, job["id"])) == 1


async def test_stuck_export_is_retried_then_given_up(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # The app's reaper waits an hour (a busy machine may render slowly); the export's is
    # given 1 s and one retry.
    async with running_system(nats_server.url, tmp_path, stuck_job_timeout_s=3600.0) as system:
        reaper = Reaper(system.db, 1.0, 1, announcer(system.app))
        # A job is rendered; then the renderer goes away.
        job = await system.approved_job(duration_s=5)
        await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
        await system.wait_status(job["id"], "completed", timeout_s=60)
        await system.stop_workers()

        # An export is asked for; nobody answers it.
        status, _, _ = await system.call(
            "POST", f"/api/v2/jobs/{job['id']}/exports", json={"aspect": "1:1"}
        )
        assert status == 202

        # The reaper sends it once more ...
        (retried,) = await eventually(reaper.sweep, timeout_s=10)
        assert retried.attempt is None  # the job keeps its attempt: it is completed
        assert "retry 1 of 1" in retried.record.job.progress.message

        # ... then gives up; the job stays completed, with the reason in its progress.
        await eventually(reaper.sweep, timeout_s=10)
        done = await system.job(job["id"])
        assert done["progress"]["message"] == (
            "the export stalled: no progress for 1 s, even after 1 automatic retry"
        )
        assert done["status"] == "completed" and done["error_message"] is None
        assert done["failed_stage"] is None and done["retryable"] is False
        assert [o["kind"] for o in done["outputs"]] == ["render"]
        sent = await eventually(
            lambda: requests_for(system, ExportRequested.subject, job["id"]),
            lambda found: len(found) == 2,
        )
        assert len({e["data"]["export_id"] for e in sent}) == 1
        assert len({e["id"] for e in sent}) == 2
        failures = await eventually(
            lambda: requests_for(system, "jobs.render.failed", job["id"]), lambda f: len(f) == 1
        )
        assert failures[0]["data"]["export_id"] == sent[0]["data"]["export_id"]
