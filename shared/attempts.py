"""Each job's current attempt, shared by every service through a JetStream key-value
bucket, so a worker can tell that a request it was handed has been superseded.

The gateway owns a job's attempt (its `generated_videos.attempt`); when the stuck-job
reaper or a client's retry starts a stage again it records the new attempt here. A stage
request carrying an older attempt (a redelivery of the request the reaper gave up on) is
then acknowledged and dropped by the consume loop instead of being worked on twice: the
stage workers pass `attempt_check(bus)` to `Bus.consume` as its `superseded` test (the bus
itself does not know about attempts). The gateway's projection ignores an older attempt's
results anyway; this saves the work.

Example::

    await record_attempt(bus, job_id, 2)                 # gateway, after the retry commits
    await bus.consume(spec, handlers, stop, superseded=attempt_check(bus))   # worker
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from shared.bus import Bus
from shared.events import (
    Event,
    ExportRequested,
    RenderRequested,
    SceneRefineRequested,
    StoryboardRequested,
)
from shared.logging import get_logger

log = get_logger(__name__)

BUCKET = "job_attempts"
STREAM = f"KV_{BUCKET}"
KEEP_S = 14 * 86_400  # as long as the JOBS stream keeps the requests themselves
# The requests that start work on a stage; only these can be superseded.
STAGE_REQUESTS = frozenset(
    payload.subject
    for payload in (StoryboardRequested, SceneRefineRequested, RenderRequested, ExportRequested)
)


def attempt_subject(job_id: str) -> str:
    return f"$KV.{BUCKET}.{job_id}"


async def record_attempt(bus: Bus, job_id: str, attempt: int) -> bool:
    """Record `attempt` as the job's current one (the bucket is made on first use);
    False (logged) when NATS is unreachable: the record only saves work, the gateway's
    projection drops a stale attempt's results anyway."""
    try:
        kv = await bus.key_value(BUCKET, ttl_s=KEEP_S)
        await kv.put(job_id, str(attempt).encode())
    except (nats.errors.Error, TimeoutError) as exc:
        log.warning("attempt.record_failed", extra={"job_id": job_id, "error": repr(exc)})
        return False
    return True


async def current_attempt(js: JetStreamContext, job_id: str) -> int | None:
    """The job's recorded attempt, or None when none was recorded (never retried, or no
    job was ever retried: then the bucket does not exist yet)."""
    try:
        msg = await js.get_last_msg(STREAM, attempt_subject(job_id))
    except nats.js.errors.NotFoundError:
        return None
    return int(msg.data) if msg.data else None


async def superseded(js: JetStreamContext, event: Event[Any]) -> bool:
    """Whether `event` is a stage request for an attempt older than the job's current one.
    When the bucket cannot be read the request is worked on (the safe side)."""
    if event.subject not in STAGE_REQUESTS:
        return False
    try:
        current = await current_attempt(js, event.job_id)
    except (nats.errors.Error, TimeoutError, ValueError) as exc:
        log.warning("attempt.lookup_failed", extra={"error": repr(exc)})
        return False
    return current is not None and event.attempt < current


def attempt_check(bus: Bus) -> Callable[[Event[Any]], Awaitable[bool]]:
    """`superseded` on the bus's JetStream context, for `Bus.consume(superseded=...)`."""

    async def check(event: Event[Any]) -> bool:
        return await superseded(bus.js, event)

    return check
