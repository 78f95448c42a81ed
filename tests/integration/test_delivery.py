"""At-least-once delivery made safe: redeliveries, cancels, and a NATS outage."""

from __future__ import annotations

from pathlib import Path

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared.events import StoryboardCompleted, StoryboardRequested
from shared.models import GenerationRequest
from tests.integration.test_replicate_pipeline import replicate_system, submit
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import started_fake
from tests.support.system import System, running_system
from tests.support.waiting import eventually


async def _subjects_for(system: System, job_id: str, subject: str) -> list[bytes]:
    """Every message on `subject` about `job_id` stored in the JOBS stream."""
    js = system.bus.js
    sub = await js.subscribe(
        subject,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    found = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                break
            if job_id.encode() in msg.data:
                found.append(msg.data)
    finally:
        await sub.unsubscribe()
    return found


async def test_redelivered_request_makes_no_second_storyboard(system: System) -> None:
    # A job reaches storyboard_ready once.
    job = await system.create_job()
    job = await system.wait_status(job["id"], "storyboard_ready")
    storage = Path(system.settings.video_storage_path)
    frames = sorted((storage / "storyboards" / job["id"]).glob("scene_*.jpg"))
    stamps = {f: f.stat().st_mtime_ns for f in frames}

    # The same request event arrives again (as after a worker crash before its ack),
    # past JetStream's de-duplication by giving it another message id.
    original = (await _subjects_for(system, job["id"], StoryboardRequested.subject))[0]
    await system.bus.publish_raw(
        StoryboardRequested.subject, original, {"Nats-Msg-Id": "redelivery-" + job["id"]}
    )
    requests = await eventually(
        lambda: _subjects_for(system, job["id"], StoryboardRequested.subject),
        lambda found: len(found) == 2,
    )
    assert len(requests) == 2

    # The worker handles it (its consumer has nothing left) without drawing again, and
    # the completion it re-announces is dropped as a duplicate: one storyboard exists.
    await system.drained("storyboard", "gateway")
    completions = await _subjects_for(system, job["id"], StoryboardCompleted.subject)
    assert len(completions) == 1
    assert {f: f.stat().st_mtime_ns for f in frames} == stamps
    assert (await system.job(job["id"]))["storyboard"] == job["storyboard"]


async def test_cancel_stops_the_job_for_good(system: System) -> None:
    # With no worker running, a job waits in the queue; the client cancels it.
    await system.stop_workers()
    job = await system.create_job()
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/cancel")
    assert status == 200 and body["status"] == "canceled"

    # A worker then picks up the request; whatever it reports, the job stays canceled.
    system.start_storyboard_worker()

    await system.drained("storyboard", "gateway")
    assert (await system.job(job["id"]))["status"] == "canceled"

    # A canceled job cannot be canceled, approved or refined again.
    for action, payload in (("cancel", None), ("approve", None)):
        status, body, _ = await system.call(
            "POST", f"/api/v2/jobs/{job['id']}/{action}", json=payload
        )
        assert status == 409, action
    status, _, _ = await system.call(
        "POST", f"/api/v2/jobs/{job['id']}/scenes/1/refine", json={"feedback": "more"}
    )
    assert status == 409


async def test_cancel_during_storyboarding_stops_the_worker(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # A storyboard of model pictures drawn one at a time, 0.8 s a picture: seconds long.
    async with (
        started_fake(latency_scale=0.4) as fake,
        replicate_system(nats_server, tmp_path, fake, scene_concurrency=1) as system,
    ):
        job = await submit(system)
        await system.wait_status(job["id"], "storyboarding", timeout_s=30)

        # The client cancels mid-way; the job is canceled and stays so.
        status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/cancel")
        assert status == 200 and body["status"] == "canceled"

        await system.drained("storyboard", "gateway")
        final = await system.job(job["id"])
        assert final["status"] == "canceled" and final["storyboard"] is None
        # The worker stopped drawing: it never completed the storyboard.
        assert await _subjects_for(system, job["id"], StoryboardCompleted.subject) == []


async def test_jobs_are_accepted_while_nats_is_down(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # A system on its own nats-server, which we can stop.
    own = NatsServer(tmp_path / "nats-own")
    (tmp_path / "nats-own").mkdir()
    own.start()
    try:
        async with running_system(own.url, tmp_path / "system") as system:
            # NATS goes away.
            own.stop()
            await eventually(lambda: _disconnected(system), lambda gone: gone)

            # A brief is still accepted: the row and its events wait in the outbox.
            job = await system.create_job()
            assert job["status"] == "queued"
            assert await system.relay.pending() >= 2

            # NATS comes back; the relay delivers and the storyboard gets made.
            own.start()
            await system.wait_status(job["id"], "storyboard_ready", timeout_s=60)
            assert await system.relay.pending() == 0
    finally:
        own.stop()


async def _disconnected(system: System) -> bool:
    return not system.bus.connected


async def test_duplicate_publish_is_dropped_by_the_server(system: System) -> None:
    # The same event published twice is stored once (Nats-Msg-Id de-duplication).
    request = GenerationRequest(campaign_id="c", prompt="p", platform="tiktok", duration_s=5)
    event = StoryboardRequested(request=request).envelope(job_id="dup-job", client_id="x")
    headers = system.bus.event_headers(event)
    first = await system.bus.publish_raw(event.subject, event.model_dump_json().encode(), headers)
    second = await system.bus.publish_raw(event.subject, event.model_dump_json().encode(), headers)
    assert (first, second) == (True, False)
