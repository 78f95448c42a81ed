"""Fault 4: a stage whose worker is down or hung for longer than STUCK_JOB_TIMEOUT_S is
retried by the gateway's reaper, up to MAX_JOB_RETRIES, then failed with a clear reason;
no job stays in a running state for ever."""

from __future__ import annotations

import time

import aiohttp
import pytest

from tests.support.measurements import record_measurement
from tests.support.stack import Stack
from tests.support.waiting import eventually

STUCK = {"STUCK_JOB_TIMEOUT_S": "2", "MAX_JOB_RETRIES": "2"}


@pytest.mark.timeout(120)
async def test_storyboard_down_is_retried_then_failed_then_retried_by_the_client(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    # The gateway runs with a 2 s stuck timeout; no storyboard worker is running.
    stack.add("gateway", **STUCK)
    stack.start()
    await stack.ready()
    api = stack.api(http)

    # A brief waits for a worker that never comes.
    submitted_at = time.monotonic()
    job = await api.create_job(duration_s=5)

    # The reaper starts the storyboard again twice, then fails it with a clear reason.
    retried = await eventually(
        lambda: api.job(job["id"]), lambda j: j["retry_count"] >= 1, timeout_s=20
    )
    assert retried["status"] in ("queued", "storyboarding")
    failed = await api.wait_status(job["id"], "failed", timeout_s=30)
    failed_after_s = time.monotonic() - submitted_at
    assert failed["retry_count"] == 2
    assert failed["failed_stage"] == "storyboard"
    assert "stalled" in failed["error_message"] and "2 automatic retries" in failed["error_message"]
    assert "Traceback" not in failed["error_message"]
    assert failed["retryable"] is True

    # The worker comes back; the requests the reaper gave up on are dropped, not drawn.
    worker = stack.add("storyboard")[0]
    stack.start()
    await stack.ready(worker)
    # (all three: giving up also moved the job to a new attempt)
    await eventually(lambda: _superseded(worker.log()), lambda n: n >= 3, timeout_s=20)
    assert (await api.job(job["id"]))["status"] == "failed"

    # The client retries the failed job: it runs from its failed stage to the end of it.
    status, body = await api.call("POST", f"/api/v2/jobs/{job['id']}/retry")
    assert status == 202, body
    ready = await api.wait_status(job["id"], "storyboard_ready", timeout_s=30)
    assert ready["error_message"] is None and ready["storyboard"]["scenes"]

    record_measurement(
        "stuck_storyboard",
        fault="no storyboard worker; STUCK_JOB_TIMEOUT_S=2, MAX_JOB_RETRIES=2",
        jobs=1,
        completed=0,
        failed=1,
        stuck=0,
        automatic_retries=failed["retry_count"],
        failed_after_s=round(failed_after_s, 2),
        error_message=failed["error_message"],
        superseded_requests_dropped=await _superseded(worker.log()),
        client_retry_reached="storyboard_ready",
    )


@pytest.mark.timeout(120)
async def test_hung_renderer_is_retried_and_the_job_completes(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    # A 5 s stuck timeout with 3 retries; the renderer draws clips big enough to be caught
    # in the middle of a render. (At 3 s a render on a loaded machine, other suites beside
    # it, went 3 s without progress in a late phase three times over and failed: the
    # timeout must stay above the longest quiet phase of a healthy render.)
    stack.add("gateway", STUCK_JOB_TIMEOUT_S="5", MAX_JOB_RETRIES="3")
    stack.add("storyboard")
    renderer = stack.add("renderer", RENDER_SCALE_DIVISOR="6")[0]
    stack.start()
    await stack.ready()
    api = stack.api(http)

    # The render starts; the renderer hangs (SIGSTOP) as soon as it has taken the job.
    job = await api.create_job(duration_s=30)
    await api.run_to_render(job["id"])
    await eventually(lambda: _started(renderer.log(), job["id"]), timeout_s=60)
    stack.pause(renderer)
    hung_at = time.monotonic()
    assert (await api.job(job["id"]))["retry_count"] == 0

    # Past the timeout the reaper starts the render again as the next attempt.
    retried = await eventually(
        lambda: api.job(job["id"]), lambda j: j["retry_count"] >= 1, timeout_s=20
    )
    retried_after_s = time.monotonic() - hung_at
    assert retried["status"] == "rendering"

    # The renderer wakes up; the job completes (the stale attempt's result is ignored).
    stack.resume(renderer)
    done = await api.wait_status(job["id"], "completed", timeout_s=90)
    recovered_s = time.monotonic() - hung_at
    assert done["error_message"] is None and done["outputs"]
    assert 1 <= done["retry_count"] <= 3

    record_measurement(
        "hung_renderer",
        fault="renderer SIGSTOPped mid-render; STUCK_JOB_TIMEOUT_S=5, MAX_JOB_RETRIES=3",
        jobs=1,
        completed=1,
        failed=0,
        stuck=0,
        automatic_retries=done["retry_count"],
        first_retry_after_s=round(retried_after_s, 2),
        time_to_recover_s=round(recovered_s, 2),
    )


async def _started(log: str, job_id: str) -> bool:
    """Whether the renderer's log shows it began rendering the job."""
    return any('"render.started"' in line and job_id in line for line in log.splitlines())


async def _superseded(log: str) -> int:
    """Stage requests a worker acknowledged unread because a newer attempt exists."""
    return log.count('"event":"event.superseded"')
