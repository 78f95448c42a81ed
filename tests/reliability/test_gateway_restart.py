"""Fault 3: the gateway is SIGKILLed mid-flow, with events it has not published yet in its
outbox and worker events arriving while it is down; restarted on the same database it
answers polls at once, catches up from its durable consumer and resends its outbox."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import time
from collections import Counter

import aiohttp
import nats
import pytest

from tests.support.measurements import record_measurement
from tests.support.nats_server import NatsServer
from tests.support.stack import Stack
from tests.support.streams import stream_messages
from tests.support.waiting import eventually


@pytest.mark.timeout(150)
async def test_gateway_killed_mid_flow_loses_nothing(
    stack: Stack, own_nats: NatsServer, http: aiohttp.ClientSession
) -> None:
    gateway = stack.add("gateway")[0]
    stack.add("storyboard")
    stack.add("renderer")
    stack.start()
    await stack.ready()
    api = stack.api(http)
    assert own_nats.proc is not None

    # Job A is rendering.
    rendering = await api.create_job(campaign_id="before-the-crash", duration_s=10)
    await api.run_to_render(rendering["id"])

    # NATS stalls (SIGSTOP): two briefs are accepted, their events wait in the outbox.
    own_nats.proc.send_signal(signal.SIGSTOP)
    try:
        queued = [await api.create_job(campaign_id=f"in-outbox-{n}", duration_s=5) for n in (1, 2)]
        unsent = _unpublished(stack)
        assert unsent >= 4  # jobs.created + jobs.storyboard.requested for each

        # The gateway dies (SIGKILL) before it could publish them.
        gateway.kill()
        killed_at = time.monotonic()
    finally:
        own_nats.proc.send_signal(signal.SIGCONT)

    # While it is down the workers go on: job A's render completes, events pile up for
    # the gateway's durable consumer.
    await eventually(
        lambda: _completions(stack.nats_url, rendering["id"]), lambda n: n == 1, timeout_s=60
    )
    backlog = await _gateway_backlog(stack.nats_url)
    assert backlog > 0

    # Restarted on the same database and port, it answers every poll from its database
    # straight away, before it has caught up.
    gateway.start()
    restarted_at = time.monotonic()
    first = await eventually(
        lambda: api.try_job(rendering["id"]), lambda job: job is not None, timeout_s=40
    )
    first_answer_s = time.monotonic() - restarted_at
    assert first is not None and first["status"] in ("rendering", "completed")
    for job in queued:
        assert (await api.job(job["id"]))["status"] in (
            "queued",
            "storyboarding",
            "storyboard_ready",
        )

    # It catches up from its durable consumer: A completes; the outbox resends the two
    # briefs, which get storyboards and are rendered in turn.
    await api.wait_status(rendering["id"], "completed", timeout_s=60)
    caught_up_s = time.monotonic() - restarted_at
    for job in queued:
        await api.run_to_render(job["id"], timeout_s=60)
    finals = [await api.wait_final(job["id"], timeout_s=90) for job in queued]
    recovered_s = time.monotonic() - killed_at
    assert [job["status"] for job in finals] == ["completed", "completed"]
    assert _unpublished(stack) == 0

    # Resent events were de-duplicated: each was stored once.
    ids = [rendering["id"], *(job["id"] for job in queued)]
    per_job = Counter(
        (json.loads(m.data)["job_id"], m.subject)
        for m in await stream_messages(stack.nats_url, "JOBS")
        if m.subject in ("jobs.created", "jobs.storyboard.requested", "jobs.render.completed")
    )
    duplicates = {key: n for key, n in per_job.items() if n != 1}
    assert duplicates == {} and len(per_job) == 3 * len(ids)

    record_measurement(
        "gateway_restart",
        fault="gateway SIGKILLed with 2 briefs' events unsent in its outbox and a render running",
        jobs=len(ids),
        completed=1 + len(finals),
        failed=0,
        stuck=0,
        outbox_rows_unsent_at_kill=unsent,
        events_waiting_for_gateway=backlog,
        duplicate_events=len(duplicates),
        down_s=round(restarted_at - killed_at, 2),
        first_poll_answer_after_restart_s=round(first_answer_s, 2),
        projection_caught_up_after_restart_s=round(caught_up_s, 2),
        time_to_recover_s=round(recovered_s, 2),
    )


def _unpublished(stack: Stack) -> int:
    with sqlite3.connect(stack.database("gateway")) as db:
        row = db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
    return int(row[0])


async def _completions(nats_url: str, job_id: str) -> int:
    return sum(
        1
        for m in await stream_messages(nats_url, "JOBS")
        if m.subject == "jobs.render.completed" and job_id.encode() in m.data
    )


async def _gateway_backlog(nats_url: str) -> int:
    nc = await asyncio.wait_for(nats.connect(nats_url), 10)
    try:
        info = await nc.jetstream().consumer_info("JOBS", "gateway")
        return int(info.num_pending + info.num_ack_pending)
    finally:
        await nc.close()
