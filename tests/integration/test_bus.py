"""The consumer loop on a real JetStream server: ack, retry with backoff, dead letters,
replicas sharing one durable, idempotent declarations."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from shared.bus import Bus, ConsumerSpec, PermanentError, TransientError
from shared.events import DeadLettered, Event, JobCanceled
from tests.support.nats_server import NatsServer
from tests.support.system import delete_streams
from tests.support.waiting import eventually

SPEC = ConsumerSpec(
    durable="tester", stream="JOBS", subjects=(JobCanceled.subject,), ack_wait_s=2, max_deliver=3
)


@pytest_asyncio.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    """A connected bus with fresh streams, removed afterwards."""
    connected = await Bus.connect(nats_server.url, service="tester")
    await connected.ensure_streams()
    yield connected
    await connected.close()
    await delete_streams(nats_server.url)


@contextlib.asynccontextmanager
async def consuming(bus: Bus, handler: Any, concurrency: int = 1) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(bus.consume(SPEC, {JobCanceled: handler}, stop, concurrency))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def _canceled(job_id: str) -> Event[JobCanceled]:
    return JobCanceled().envelope(job_id=job_id, client_id="c")


async def _dead_letters(bus: Bus) -> list[DeadLettered]:
    info = await bus.js.stream_info("DEADLETTER")
    letters = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages:
            raw = await bus.js.get_msg("DEADLETTER", seq)
            letters.append(DeadLettered.model_validate_json(raw.data))
    return letters


async def test_handled_events_are_acked_once(bus: Bus) -> None:
    # A typed handler receives each event once and it is acked.
    seen: list[str] = []

    async def handle(event: Event[JobCanceled]) -> None:
        assert isinstance(event.data, JobCanceled)
        seen.append(event.job_id)

    async with consuming(bus, handle, concurrency=4):
        for n in range(10):
            await bus.publish(_canceled(f"job-{n}"))
        await eventually(lambda: _value(len(seen)), lambda n: n == 10)
    info = await bus.js.consumer_info("JOBS", "tester")
    assert info.num_ack_pending == 0 and info.num_pending == 0
    assert sorted(seen) == sorted(f"job-{n}" for n in range(10))


async def test_transient_failures_retry_then_succeed(bus: Bus) -> None:
    # A handler that fails twice with a transient error succeeds on the third delivery.
    attempts: list[int] = []

    async def flaky(event: Event[JobCanceled]) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise TransientError("provider busy")

    async with consuming(bus, flaky):
        await bus.publish(_canceled("flaky"))
        await eventually(lambda: _value(len(attempts)), lambda n: n == 3, timeout_s=30)
    assert await _dead_letters(bus) == []


async def test_poison_messages_are_dead_lettered(bus: Bus) -> None:
    # Bad JSON, a schema violation, a permanent error and an always-failing handler
    # each end in deadletter.tester with the reason; nothing is retried forever.
    async def handle(event: Event[JobCanceled]) -> None:
        if event.job_id == "permanent":
            raise PermanentError("brief cannot be rendered")
        if event.job_id == "always":
            raise RuntimeError("boom")

    async with consuming(bus, handle):
        await bus.publish_raw(JobCanceled.subject, b"{not json", {"Nats-Msg-Id": "bad-json"})
        await bus.publish_raw(JobCanceled.subject, b'{"type": "x"}', {"Nats-Msg-Id": "bad-schema"})
        await bus.publish(_canceled("permanent"))
        await bus.publish(_canceled("always"))
        letters = await eventually(lambda: _dead_letters(bus), lambda found: len(found) == 4, 40)
    reasons = sorted(letter.reason for letter in letters)
    assert any(r.startswith("invalid event") and "json" in r.lower() for r in reasons)
    assert any("missing" in r.lower() for r in reasons)
    assert "brief cannot be rendered" in reasons
    always = next(letter for letter in letters if "boom" in letter.reason)
    assert always.deliveries == SPEC.max_deliver and always.service == "tester"
    assert all(letter.subject == JobCanceled.subject for letter in letters)


async def test_replicas_share_one_durable(bus: Bus, nats_server: NatsServer) -> None:
    # Two replicas bind the same durable: every event is handled by exactly one.
    other = await Bus.connect(nats_server.url, service="tester")
    handled: dict[str, list[str]] = {"a": [], "b": []}

    def handler(name: str) -> Any:
        async def handle(event: Event[JobCanceled]) -> None:
            handled[name].append(event.job_id)
            await asyncio.sleep(0.01)  # hold the message so the other replica gets work

        return handle

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(b.consume(SPEC, {JobCanceled: handler(n)}, stop, concurrency=2))
        for b, n in ((bus, "a"), (other, "b"))
    ]
    for n in range(40):
        await bus.publish(_canceled(f"r{n}"))
    await eventually(lambda: _value(len(handled["a"]) + len(handled["b"])), lambda n: n == 40)
    stop.set()
    await asyncio.gather(*tasks)
    await other.close()
    everything = handled["a"] + handled["b"]
    assert sorted(everything) == sorted(f"r{n}" for n in range(40))
    assert handled["a"] and handled["b"]


async def test_declarations_are_idempotent(bus: Bus) -> None:
    # Declaring streams and the consumer again changes nothing and raises nothing.
    await bus.ensure_streams()
    await bus.ensure_consumer(SPEC)
    await bus.ensure_consumer(SPEC)
    names = sorted([info.config.name for info in await bus.js.streams_info()])
    assert names == ["BILLING", "DEADLETTER", "JOBS"]
    info = await bus.js.consumer_info("JOBS", "tester")
    assert info.config.ack_wait == 2 and info.config.max_deliver == SPEC.max_deliver + 1


async def _value(value: int) -> int:
    return value
