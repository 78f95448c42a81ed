"""The pipeline's reference: a job's messages through the same nats-server with no
service code around them.

A job of `bench/pipeline.py` is, on the bus: `jobs.storyboard.requested` published (the
gateway's outbox relay) and taken by the storyboard's pull consumer, which publishes
`jobs.storyboard.completed` (a storyboard drawn within half a second sends no progress
event) and acks; the gateway's projection takes it and acks. `bus_alone` replays
exactly that pattern — same message sizes, JetStream file storage, `Nats-Msg-Id` on
every publish, pull consumers fetching in batches up to the services' concurrency (16) —
with handlers that do nothing else, and returns jobs/s from the first publish to the last
completion acked. What the pipeline reaches against it is what our own code costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, StorageType, StreamConfig

STREAM = "BENCH_BUS_REFERENCE"
REQUESTED = "benchref.storyboard.requested"
FOLLOW_UPS = "benchref.storyboard.done"  # completed
CONCURRENCY = 16
# A brief's StoryboardRequested envelope and a 2-scene StoryboardCompleted.
REQUESTED_BYTES = 1_100
COMPLETED_BYTES = 2_900


async def bus_alone(nats_url: str, jobs: int) -> float:
    """Jobs a second the bus moves in the pipeline's pattern (see the module docstring)."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(STREAM)
        await js.add_stream(
            StreamConfig(
                name=STREAM,
                subjects=[REQUESTED, FOLLOW_UPS],
                storage=StorageType.FILE,
                duplicate_window=600,
            )
        )
        for durable, subject in (("worker", REQUESTED), ("projection", FOLLOW_UPS)):
            await js.add_consumer(
                STREAM,
                ConsumerConfig(durable_name=durable, filter_subject=subject, ack_wait=30),
            )
        return await _run(js, jobs)
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(STREAM)
        await nc.close()


async def _run(js: JetStreamContext, jobs: int) -> float:
    completed = 0
    all_done = asyncio.Event()

    async def work(msg: Msg) -> None:
        job = msg.data[:32]
        body = job + b"c" + b"x" * (COMPLETED_BYTES - 33)
        await js.publish(FOLLOW_UPS, body, headers={"Nats-Msg-Id": uuid.uuid4().hex})
        await msg.ack()

    async def project(msg: Msg) -> None:
        nonlocal completed
        await msg.ack()
        completed += 1
        if completed == jobs:
            all_done.set()

    worker = await js.pull_subscribe_bind(durable="worker", stream=STREAM)
    projection = await js.pull_subscribe_bind(durable="projection", stream=STREAM)
    consumers = [
        asyncio.create_task(_consume(worker, work)),
        asyncio.create_task(_consume(projection, project)),
    ]
    started = time.perf_counter()
    try:
        await asyncio.gather(
            *(
                js.publish(
                    REQUESTED,
                    uuid.uuid4().hex.encode() + b"r" + b"x" * (REQUESTED_BYTES - 33),
                    headers={"Nats-Msg-Id": uuid.uuid4().hex},
                )
                for _ in range(jobs)
            )
        )
        await asyncio.wait_for(all_done.wait(), timeout=120)
        return jobs / (time.perf_counter() - started)
    finally:
        for task in consumers:
            task.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)


async def _consume(
    sub: JetStreamContext.PullSubscription, handle: Callable[[Msg], Awaitable[None]]
) -> None:
    """Fetch up to CONCURRENCY at a time and handle each in its own task, as `shared.bus`
    does (a slot frees as each handler ends)."""
    in_flight: set[asyncio.Task[None]] = set()
    while True:
        if len(in_flight) >= CONCURRENCY:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            continue
        try:
            batch = await sub.fetch(batch=CONCURRENCY - len(in_flight), timeout=1)
        except (nats.errors.TimeoutError, TimeoutError):
            continue
        for msg in batch:
            task = asyncio.create_task(handle(msg))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
