"""Dead letters: a message no worker can handle lands on `deadletter.<service>` with its
reason, and the job it belonged to is failed at once, with a clear reason, instead of
waiting for the reaper."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

from shared.bus import Bus, ConsumerSpec, PermanentError
from shared.events import Event, Payload, RenderRequested, StoryboardRequested
from tests.support.nats_server import NatsServer
from tests.support.streams import stream_messages
from tests.support.system import System, running_system
from tests.support.waiting import eventually


@asynccontextmanager
async def broken_worker(
    system: System, service: str, payload: type[Payload], fail: Callable[[], Awaitable[None]]
) -> AsyncIterator[None]:
    """A real consumer of `payload` on the worker's own durable, through the project's
    bus, whose handler always fails the way `fail` does: a worker that cannot do the job."""
    bus = await Bus.connect(system.settings.nats_url, service=service)
    stop = asyncio.Event()
    spec = ConsumerSpec(
        durable=service, stream="JOBS", subjects=(payload.subject,), ack_wait_s=5, max_deliver=2
    )

    async def handle(_: Event[Any]) -> None:
        await fail()

    task = asyncio.create_task(bus.consume(spec, {payload: handle}, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await bus.close()


async def dead_letters(system: System, service: str) -> list[dict[str, Any]]:
    stored = await stream_messages(system.settings.nats_url, "DEADLETTER")
    return [orjson.loads(m.data) for m in stored if m.subject == f"deadletter.{service}"]


async def refuse() -> None:
    raise PermanentError("the brief asks for a model that does not exist")


async def crash() -> None:
    raise RuntimeError("connection reset by peer (api_key=sk-not-for-clients)")


async def test_a_refused_storyboard_request_fails_the_job(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # The stuck timeout is an hour: only the dead letter can end this job quickly.
    async with running_system(
        nats_server.url, tmp_path, storyboard_workers=0, stuck_job_timeout_s=3600.0
    ) as system:
        async with broken_worker(system, "storyboard", StoryboardRequested, refuse):
            job = await system.create_job()

            # The worker refuses the request; it is parked with the reason ...
            parked = await eventually(lambda: dead_letters(system, "storyboard"))
            assert parked[0]["subject"] == StoryboardRequested.subject
            assert parked[0]["reason"] == "the brief asks for a model that does not exist"

            # ... and the job is failed in its storyboard stage, not left queued.
            failed = await system.wait_status(job["id"], "failed", timeout_s=15)
        assert failed["failed_stage"] == "storyboard" and failed["retryable"] is True
        assert failed["error_message"] == (
            "the storyboard could not be completed: its message was refused as unprocessable"
        )
        # The failure is announced like any other (billing releases the reservation).
        stored = await stream_messages(system.settings.nats_url, "JOBS")
        assert [m.subject for m in stored].count("jobs.storyboard.failed") == 1


async def test_a_render_that_fails_every_time_fails_the_job(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with running_system(
        nats_server.url, tmp_path, renderer_workers=0, stuck_job_timeout_s=3600.0
    ) as system:
        job = await system.approved_job()
        async with broken_worker(system, "renderer", RenderRequested, crash):
            await system.call("POST", f"/api/v2/jobs/{job['id']}/render")

            # Two deliveries fail; the message is parked; the job fails in its render.
            failed = await system.wait_status(job["id"], "failed", timeout_s=20)
        assert failed["failed_stage"] == "render"
        assert failed["error_message"] == (
            "the render could not be completed: its message failed 2 times in a row"
        )
        # The worker's exception text (which quotes a credential) never reaches the client.
        assert "api_key" not in failed["error_message"]
        parked = await dead_letters(system, "renderer")
        assert len(parked) == 1 and parked[0]["deliveries"] == 2
        assert parked[0]["reason"].startswith("failed 2 times")

        # The client can retry it once a working renderer is back.
        system.start_renderer_worker()
        status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/retry")
        assert status == 202, body
        await system.wait_status(job["id"], "completed", timeout_s=90)


async def test_a_dead_letter_about_a_finished_stage_changes_nothing(system: System) -> None:
    # The storyboard is made normally.
    job = await system.create_job()
    ready = await system.wait_status(job["id"], "storyboard_ready")

    # Later a dead letter about its (long handled) request arrives, e.g. a stale copy.
    stored = await stream_messages(system.settings.nats_url, "JOBS")
    request = next(
        m.data
        for m in stored
        if m.subject == StoryboardRequested.subject and job["id"].encode() in m.data
    )
    parked = {
        "service": "storyboard",
        "subject": StoryboardRequested.subject,
        "reason": "failed 5 times: TimeoutError()",
        "deliveries": 5,
        "data": request.decode(),
    }
    await system.bus.publish_raw(
        "deadletter.storyboard", orjson.dumps(parked), {"Nats-Msg-Id": "late-" + job["id"]}
    )

    # The gateway reads it (its consumer catches up) and leaves the job as it was.
    async def backlog() -> int:
        info = await system.bus.js.consumer_info("DEADLETTER", "gateway-deadletters")
        return int(info.num_pending + info.num_ack_pending)

    await eventually(backlog, lambda n: n == 0)
    assert await system.job(job["id"]) == ready
