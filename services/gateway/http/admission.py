"""Back-pressure on new work, per client, checked before anything is written:

- creating jobs draws from a token bucket (JOB_RATE_PER_MINUTE, JOB_RATE_BURST):
  empty → `429 rate_limited` with `Retry-After` (seconds until a token is back);
- at most MAX_QUEUED_JOBS_PER_CLIENT jobs may wait for or use workers at once (queued,
  storyboarding, refining, rendering): creating, rendering or retrying one more is
  `429 too_many_queued_jobs` until some finish.

The buckets live in the gateway process (it runs as one replica). The queued bound is read
from `app.db` before the request is handled; requests racing each other can overshoot it
by the number in flight at that moment, which is the price of not holding a lock across
the billing call.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from services.gateway.appkeys import DB
from services.gateway.http.auth import principal_of
from services.gateway.http.errors import ApiError
from services.gateway.jobs.store import count_running
from shared.db import Database
from shared.settings import Settings

MAX_BUCKETS = 10_000


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"


class TooManyQueuedJobs(ApiError):
    status = 429
    code = "too_many_queued_jobs"


@dataclass
class TokenBucket:
    """`capacity` tokens, refilled continuously at `rate_per_s`; a request takes one."""

    capacity: float
    rate_per_s: float
    tokens: float = field(init=False)
    updated: float = field(init=False)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self.updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate_per_s)
        self.updated = now

    def take(self) -> float:
        """0 when a token was taken, else the seconds until one is back."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate_per_s

    @property
    def full(self) -> bool:
        self._refill()
        return self.tokens >= self.capacity


class JobAdmission:
    """Per-client buckets plus the queued-work bound."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        max_queued: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s = per_minute / 60
        self.burst = burst
        self.max_queued = max_queued
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}

    def take(self, client_id: str) -> None:
        bucket = self.buckets.get(client_id)
        if bucket is None:
            if len(self.buckets) >= MAX_BUCKETS:
                # A full bucket holds no information: forget those first.
                self.buckets = {c: b for c, b in self.buckets.items() if not b.full}
            bucket = TokenBucket(self.burst, self.rate_per_s, clock=self.clock)
            self.buckets[client_id] = bucket
        wait_s = bucket.take()
        if wait_s > 0:
            retry_after = max(1, math.ceil(wait_s))
            raise RateLimited(
                f"too many new jobs: at most {self.burst} at once and"
                f" {self.rate_per_s * 60:g} per minute; try again in {retry_after} s",
                {"retry_after_s": retry_after},
                headers={"Retry-After": str(retry_after)},
            )

    async def check_queued(self, db: Database, client_id: str, job_id: str | None) -> None:
        """429 when the client already has `max_queued` jobs waiting for or using workers
        (not counting `job_id`, the one the request is about, if it is among them)."""
        queued = await count_running(db, client_id, job_id)
        if queued >= self.max_queued:
            raise TooManyQueuedJobs(
                f"{queued} of your jobs are already queued or running (at most"
                f" {self.max_queued}); wait until some finish",
                {"queued": queued, "limit": self.max_queued},
                headers={"Retry-After": "30"},
            )


def job_admission(settings: Settings) -> JobAdmission:
    return JobAdmission(
        settings.job_rate_per_minute, settings.job_rate_burst, settings.max_queued_jobs_per_client
    )


async def admit(admission: JobAdmission, request: web.Request, kind: str) -> None:
    """The back-pressure checks of a view that enqueues work (`@operation(admission=...)`):
    429 when the client has too many jobs queued, or (`create`) sends new jobs too fast."""
    client_id = principal_of(request).client_id
    job_id = request.match_info.get("job_id")
    await admission.check_queued(request.app[DB], client_id, job_id)
    if kind == "create":
        admission.take(client_id)
