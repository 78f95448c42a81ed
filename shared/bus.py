"""The one way Reelsmith talks to NATS: connect, declare streams and consumers,
publish events, consume them with a typed handler, request/reply.

One consume loop serves every durable consumer: typed events (`consume`) and messages
that are not event envelopes, such as the dead letters (`consume_raw`), get the same
keep-alive, tracing, retries with backoff and dead-lettering.

Example::

    bus = await Bus.connect(settings.nats_url, service="storyboard")
    await bus.ensure_streams()
    await bus.publish(StoryboardProgressed(progress=p).envelope(job_id=j, client_id=c))
    await bus.consume(STORYBOARD_CONSUMER, {StoryboardRequested: on_requested}, stop,
                      superseded=attempt_check(bus))   # shared.attempts
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from shared import tracing
from shared.backoff import Backoff
from shared.events import PAYLOADS, DeadLettered, Event, Payload, derived_id, parse_event
from shared.logging import get_logger, log_context
from shared.metrics import (
    CONSUMER_ACK_PENDING,
    CONSUMER_IN_FLIGHT,
    CONSUMER_PENDING,
    CONSUMER_REDELIVERED,
    EVENTS_CONSUMED,
    EVENTS_FAILED,
    EVENTS_PUBLISHED,
    HANDLER_SECONDS,
)
from shared.tracing import trace_id_from

log = get_logger(__name__)

MSG_ID = "Nats-Msg-Id"
DAY_S = 86_400
# How long a failed message waits before its redelivery.
REDELIVERY_BACKOFF = Backoff(base_s=0.5, cap_s=30.0, jitter="full")

# BILLING lists its event subjects rather than `billing.>`: a stream that captured
# `billing.quote` would answer every quote request with a PubAck before billing could.
STREAMS: tuple[StreamConfig, ...] = (
    StreamConfig(
        name="JOBS",
        subjects=["jobs.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=14 * DAY_S,
        duplicate_window=600,
    ),
    StreamConfig(
        name="BILLING",
        subjects=["billing.cost.>", "billing.job.>", "billing.budget.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=90 * DAY_S,
        duplicate_window=3600,
    ),
    StreamConfig(
        name="DEADLETTER",
        subjects=["deadletter.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=30 * DAY_S,
        duplicate_window=600,
    ),
)


class TransientError(Exception):
    """A failure worth retrying later (the message is nak'ed with backoff)."""


class PermanentError(Exception):
    """A failure that no retry will fix (the message is dead-lettered at once)."""


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer shared by every replica of one service."""

    durable: str
    stream: str
    subjects: tuple[str, ...]
    ack_wait_s: float = 30.0
    max_deliver: int = 5
    max_ack_pending: int = 1000

    def config(self) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait_s,
            # One more than our own limit: the app dead-letters on the last attempt
            # itself, with the reason, before the server gives up silently.
            max_deliver=self.max_deliver + 1,
            max_ack_pending=self.max_ack_pending,
            filter_subjects=list(self.subjects),
        )


Handler = Callable[[Event[Any]], Awaitable[None]]
# A handler of messages that are not event envelopes (e.g. the dead letters).
RawHandler = Callable[[Msg], Awaitable[None]]
# Whether an event was superseded (e.g. a stage request for an older attempt of its job,
# `shared.attempts`): such an event is acked unread.
Superseded = Callable[[Event[Any]], Awaitable[bool]]


@dataclass(frozen=True)
class Work:
    """What one consumed message asks for: the handler call, and the job it is about."""

    run: Callable[[], Awaitable[None]]
    job_id: str | None = None


# How the consume loop turns a message into its work: a `Work` to run; a string, the
# reason to dead-letter it; or None when it is settled already (acked unread).
Route = Callable[[Msg], Awaitable[Work | str | None]]


@dataclass
class ConsumerStats:
    handled: int = 0
    failed: int = 0
    dead_lettered: int = 0
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)
    # The message each in-flight task handles, to hand it back at shutdown.
    messages: dict[asyncio.Task[None], Msg] = field(default_factory=dict)


class Bus:
    """A NATS connection plus its JetStream context, owned by one service process."""

    def __init__(self, nc: NATS, service: str) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=5)
        self.service = service
        self.consumers: dict[str, ConsumerStats] = {}
        # How long `consume` lets in-flight handlers finish once stopped (SHUTDOWN_GRACE_S
        # minus the drain's share; set by `shared.service.worker_runtime`).
        self.hand_back_s = 10.0
        # How often `consume` samples its durable's pending / ack-pending counts.
        self.consumer_stats_every_s = 15.0

    @classmethod
    async def connect(cls, url: str, service: str, connect_timeout_s: float = 30.0) -> Bus:
        async def on_error(exc: Exception) -> None:
            log.warning("nats.error", extra={"error": repr(exc)})

        async def on_disconnect() -> None:
            log.warning("nats.disconnected")

        async def on_reconnect() -> None:
            log.info("nats.reconnected")

        # nats-py retries a refused first connect forever (pitfall P5): bound it.
        nc = await asyncio.wait_for(
            nats.connect(
                servers=[url],
                name=service,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                ping_interval=20,
                max_outstanding_pings=3,
                error_cb=on_error,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
            ),
            timeout=connect_timeout_s,
        )
        return cls(nc, service)

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def ensure_streams(self) -> None:
        """Create or update every stream; safe to run from every process at start-up."""
        for config in STREAMS:
            assert config.name is not None
            try:
                await self.js.stream_info(config.name)
                await self.js.update_stream(config)
            except nats.js.errors.NotFoundError:
                with contextlib.suppress(nats.js.errors.BadRequestError):
                    await self.js.add_stream(config)

    async def ensure_consumer(self, spec: ConsumerSpec) -> None:
        # add_consumer is create-or-update on the server, so config lives in one place.
        await self.js.add_consumer(spec.stream, spec.config())

    async def publish(self, event: Event[Any], headers: dict[str, str] | None = None) -> None:
        attributes = {"messaging.message.id": event.id}
        with tracing.publish_span(event.subject, event.job_id, attributes):
            await self.publish_raw(
                event.subject, event.model_dump_json().encode(), self.event_headers(event, headers)
            )

    async def publish_follow_up(
        self, cause: Event[Any], payload: Payload, suffix: str = ""
    ) -> None:
        """Publish what handling `cause` produced. The id derives from the cause, so a
        redelivered cause re-publishes the same ids and JetStream's de-duplication drops
        the copies (`suffix` tells apart several follow-ups of one kind, e.g. progress)."""
        event_id = derived_id(cause.id, payload.subject, suffix)
        await self.publish(
            payload.envelope(
                job_id=cause.job_id,
                client_id=cause.client_id,
                attempt=cause.attempt,
                event_id=event_id,
            )
        )

    @staticmethod
    def event_headers(event: Event[Any], headers: dict[str, str] | None = None) -> dict[str, str]:
        """Headers an event travels with: its id for de-duplication, the trace."""
        merged = dict(headers or {})
        merged[MSG_ID] = event.id
        if tracing.TRACEPARENT not in merged:
            attributes = {"messaging.message.id": event.id}
            tracing.inject_event_context(merged, event.job_id, event.subject, attributes)
        return merged

    async def publish_raw(self, subject: str, payload: bytes, headers: dict[str, str]) -> bool:
        """Publish with the PubAck awaited; returns False when the server dropped a duplicate.

        A publish that cannot reach the server raises `TransientError`: a handler reporting
        progress during a NATS outage must hand its message back, not fail the job."""
        try:
            with tracing.send_span(subject, headers):
                ack = await self.js.publish(subject, payload, headers=headers)
        except (nats.errors.Error, TimeoutError) as exc:
            EVENTS_FAILED.labels(subject, "publish").inc()
            raise TransientError(f"publish to {subject} failed: {exc!r}") from exc
        EVENTS_PUBLISHED.labels(subject).inc()
        return not ack.duplicate

    async def request(
        self, subject: str, body: BaseModel, reply_type: type[BaseModel], timeout_s: float = 5.0
    ) -> BaseModel:
        attributes = {"messaging.system": "nats", "messaging.destination.name": subject}
        with tracing.span(f"request {subject}", SpanKind.CLIENT, attributes=attributes):
            msg = await self.nc.request(
                subject,
                body.model_dump_json().encode(),
                timeout=timeout_s,
                headers=tracing.inject({}),
            )
        return reply_type.model_validate_json(msg.data)

    async def key_value(self, bucket: str, ttl_s: float | None = None) -> KeyValue:
        """A JetStream key-value bucket (file storage, one revision a key), created on
        first use by whichever replica gets there first. Example::

            kv = await bus.key_value("replicate_predictions", ttl_s=86_400)
            await kv.put("job1.render.s1.1", b"...")
        """
        with contextlib.suppress(nats.js.errors.BadRequestError):
            return await self.js.create_key_value(
                KeyValueConfig(bucket=bucket, history=1, ttl=ttl_s, storage=StorageType.FILE)
            )
        return await self.js.key_value(bucket)

    async def subscribe_broadcast(self, payload: type[Payload], handler: Handler) -> None:
        """Hear every `payload` event in every replica (core NATS, at most once): for
        signals such as a cancel that each replica must see, unlike shared work."""

        async def deliver(msg: Msg) -> None:
            with (
                tracing.consumer_span(msg.subject, msg.headers, self.service, "broadcast", 1),
                log_context(service=self.service),
            ):
                try:
                    event = parse_event(msg.subject, msg.data)
                    with log_context(job_id=event.job_id):
                        await handler(event)
                except Exception as exc:
                    tracing.mark_failed(exc)
                    EVENTS_FAILED.labels(msg.subject, "handle").inc()
                    log.exception("event.broadcast_failed", extra={"subject": msg.subject})

        await self.nc.subscribe(payload.subject, cb=deliver)

    async def consume(
        self,
        spec: ConsumerSpec,
        handlers: Mapping[type[Payload], Handler],
        stop: asyncio.Event,
        concurrency: int = 1,
        grace_s: float | None = None,
        superseded: Superseded | None = None,
    ) -> None:
        """Run `handlers` on the durable `spec` until `stop` is set, then hand back work.

        Each message is acked when its handler returns, nak'ed with backoff when it
        raises, and dead-lettered (`deadletter.<service>`) when it cannot be parsed,
        raises `PermanentError`, or has failed `spec.max_deliver` times. An event that
        `superseded` says was superseded (e.g. `shared.attempts.attempt_check`: a stage
        request for an attempt older than the job's current one) is acked unread.
        Once `stop` is set no more messages are fetched; in-flight handlers get `grace_s`
        (default `hand_back_s`) to finish, then are cancelled and their messages nak'ed.
        """
        route = self._event_route(handlers, superseded)
        await self._consume(spec, route, stop, concurrency, grace_s)

    async def consume_raw(
        self,
        spec: ConsumerSpec,
        handle: RawHandler,
        stop: asyncio.Event,
        concurrency: int = 1,
        grace_s: float | None = None,
    ) -> None:
        """Run `handle` on each message of `spec` that is not an event envelope (e.g. the
        dead letters) until `stop`: the loop of `consume` (ack on return, nak with backoff
        on raise, dead-lettered after `spec.max_deliver` failures or on `PermanentError`),
        without parsing."""

        async def route(msg: Msg) -> Work:
            return Work(lambda: handle(msg))

        await self._consume(spec, route, stop, concurrency, grace_s)

    def _event_route(
        self, handlers: Mapping[type[Payload], Handler], superseded: Superseded | None
    ) -> Route:
        """Typed events: the handler of the message's subject, on the parsed envelope."""
        by_subject = {payload.subject: handler for payload, handler in handlers.items()}

        async def route(msg: Msg) -> Work | str | None:
            handler = by_subject.get(msg.subject)
            if handler is None or msg.subject not in PAYLOADS:
                return f"no handler for subject {msg.subject}"
            try:
                event = parse_event(msg.subject, msg.data)
            except ValidationError as exc:
                return f"invalid event: {exc.errors(include_url=False, include_input=False)}"
            if superseded is not None and await superseded(event):
                EVENTS_CONSUMED.labels(msg.subject, "superseded").inc()
                with log_context(job_id=event.job_id):
                    log.info(
                        "event.superseded",
                        extra={"subject": msg.subject, "attempt": event.attempt},
                    )
                await msg.ack()
                return None
            return Work(lambda: handler(event), event.job_id)

        return route

    async def _consume(
        self,
        spec: ConsumerSpec,
        route: Route,
        stop: asyncio.Event,
        concurrency: int,
        grace_s: float | None,
    ) -> None:
        """The consume loop: fetch up to `concurrency` messages at a time from the durable
        `spec`, each handled by `_run_one` as its own task, until `stop`."""
        sub = await self._bind(spec, stop)
        if sub is None:
            return
        stats = self.consumers.setdefault(spec.durable, ConsumerStats())
        sampler = asyncio.create_task(self._sample_consumer(spec, stop))
        try:
            while not stop.is_set():
                if len(stats.in_flight) >= concurrency:
                    # Busy: wait for a free slot, or for the stop (a busy replica must
                    # start handing back at once, not when its current job ends).
                    await _one_done_or_stop(stats.in_flight, stop)
                    continue
                for msg in await _fetch(sub, concurrency - len(stats.in_flight), stop):
                    task = asyncio.create_task(self._run_one(spec, msg, route, stats))
                    stats.in_flight.add(task)
                    stats.messages[task] = msg
                    task.add_done_callback(stats.in_flight.discard)
                    task.add_done_callback(lambda done: stats.messages.pop(done, None))
        finally:
            sampler.cancel()
            await self._hand_back(stats, self.hand_back_s if grace_s is None else grace_s)
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _bind(
        self, spec: ConsumerSpec, stop: asyncio.Event
    ) -> JetStreamContext.PullSubscription | None:
        """Declare and bind the durable, retrying while the server is unreachable: a
        service that starts during a NATS restart must not lose its consumer loop."""
        while not stop.is_set():
            try:
                await self.ensure_consumer(spec)
                return await self.js.pull_subscribe_bind(durable=spec.durable, stream=spec.stream)
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning(
                    "consumer.bind_failed", extra={"consumer": spec.durable, "error": repr(exc)}
                )
                await asyncio.sleep(0.5)
        return None

    async def _hand_back(self, stats: ConsumerStats, grace_s: float) -> None:
        if not stats.in_flight:
            return
        # Most of the grace to finish; the rest for cancelled handlers to nak and clean up
        # (bounded: a handler that ignores its cancellation must not hold the exit).
        _done, pending = await asyncio.wait(set(stats.in_flight), timeout=grace_s * 0.8)
        for task in pending:
            task.cancel()
        if not pending:
            return
        _done, cleaning_up = await asyncio.wait(pending, timeout=grace_s * 0.2)
        # Still cleaning up (e.g. waiting for encoder processes): hand their messages back
        # now, or another replica would only get them after the ack wait.
        for task in cleaning_up:
            if (msg := stats.messages.get(task)) is not None:
                with contextlib.suppress(Exception):
                    await msg.nak()

    async def _sample_consumer(self, spec: ConsumerSpec, stop: asyncio.Event) -> None:
        """Keep the durable's pending / ack-pending gauges current while consuming."""
        labels = (spec.stream, spec.durable)
        while not stop.is_set():
            try:
                info = await self.js.consumer_info(spec.stream, spec.durable)
            except (nats.errors.Error, TimeoutError):
                pass  # a reconnect or a restarting server: the next sample will do
            else:
                CONSUMER_PENDING.labels(*labels).set(info.num_pending or 0)
                CONSUMER_ACK_PENDING.labels(*labels).set(info.num_ack_pending or 0)
                CONSUMER_REDELIVERED.labels(*labels).set(info.num_redelivered or 0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.consumer_stats_every_s)

    async def _run_one(
        self, spec: ConsumerSpec, msg: Msg, route: Route, stats: ConsumerStats
    ) -> None:
        """One message inside its `process <subject>` span (a child of its producer's)."""
        in_flight = CONSUMER_IN_FLIGHT.labels(spec.durable)
        in_flight.inc()
        try:
            deliveries = msg.metadata.num_delivered
            with (
                tracing.consumer_span(
                    msg.subject, msg.headers, self.service, spec.durable, deliveries
                ),
                log_context(service=self.service),
            ):
                await self._handle_one(spec, msg, route, stats)
        finally:
            in_flight.dec()

    async def _handle_one(
        self, spec: ConsumerSpec, msg: Msg, route: Route, stats: ConsumerStats
    ) -> None:
        deliveries = msg.metadata.num_delivered
        work = await route(msg)
        if work is None:
            return
        if isinstance(work, str):
            await self._dead_letter(spec, msg, work, stats)
            return
        keepalive = asyncio.create_task(_keep_alive(msg, spec.ack_wait_s / 3))
        try:
            with (
                log_context(job_id=work.job_id, trace_id=trace_id_from(msg.headers)),
                HANDLER_SECONDS.labels(msg.subject).time(),
            ):
                await work.run()
        except asyncio.CancelledError:
            # Shutdown: hand the message back so another replica takes it now.
            with contextlib.suppress(Exception):
                await msg.nak()
            raise
        except PermanentError as exc:
            await self._dead_letter(spec, msg, str(exc), stats)
        except Exception as exc:
            stats.failed += 1
            EVENTS_CONSUMED.labels(msg.subject, "retried").inc()
            EVENTS_FAILED.labels(msg.subject, "handle").inc()
            tracing.mark_failed(exc)
            with log_context(job_id=work.job_id):
                log.warning(
                    "event.handler_failed",
                    extra={"subject": msg.subject, "deliveries": deliveries, "error": repr(exc)},
                    exc_info=not isinstance(exc, TransientError),
                )
            if deliveries >= spec.max_deliver:
                await self._dead_letter(spec, msg, f"failed {deliveries} times: {exc!r}", stats)
            else:
                # One doubling ahead: the first redelivery already waits 0.5-1 s.
                await msg.nak(delay=REDELIVERY_BACKOFF.delay_s(deliveries + 1))
        else:
            stats.handled += 1
            EVENTS_CONSUMED.labels(msg.subject, "acked").inc()
            await msg.ack()
        finally:
            keepalive.cancel()

    async def _dead_letter(
        self, spec: ConsumerSpec, msg: Msg, reason: str, stats: ConsumerStats
    ) -> None:
        stats.dead_lettered += 1
        EVENTS_CONSUMED.labels(msg.subject, "dead_lettered").inc()
        EVENTS_FAILED.labels(msg.subject, "dead_letter").inc()
        parked = DeadLettered(
            service=self.service,
            subject=msg.subject,
            reason=reason[:2000],
            deliveries=msg.metadata.num_delivered,
            headers=dict(msg.headers or {}),
            data=msg.data.decode("utf-8", errors="replace"),
        )
        dedup = f"dlq:{spec.durable}:{msg.metadata.sequence.stream}"
        await self.publish_raw(
            f"deadletter.{self.service}", parked.model_dump_json().encode(), {MSG_ID: dedup}
        )
        log.error("event.dead_lettered", extra={"subject": msg.subject, "reason": reason[:500]})
        await msg.term()

    async def close(self, timeout_s: float = 10.0) -> None:
        """Drain: flush pending publishes and close the connection."""
        if self.nc.is_closed:
            return
        try:
            await asyncio.wait_for(self.nc.drain(), timeout=timeout_s)
        except (TimeoutError, nats.errors.Error):
            await self.nc.close()


async def _fetch(
    sub: JetStreamContext.PullSubscription, batch: int, stop: asyncio.Event
) -> list[Msg]:
    fetch = asyncio.ensure_future(sub.fetch(batch=batch, timeout=2))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if fetch not in done:
        fetch.cancel()
        with contextlib.suppress(BaseException):
            await fetch
        return []
    try:
        return fetch.result()
    except (nats.errors.TimeoutError, TimeoutError):
        return []
    except nats.errors.Error as exc:
        # Reconnects, a restarting server, a consumer being re-created: all pass; the
        # next fetch issues a fresh pull request.
        log.warning("consumer.fetch_failed", extra={"error": repr(exc)})
        await asyncio.sleep(0.5)
        return []


async def _one_done_or_stop(tasks: set[asyncio.Task[None]], stop: asyncio.Event) -> None:
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({*tasks, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()


async def _keep_alive(msg: Msg, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            await msg.in_progress()
