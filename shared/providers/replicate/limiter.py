"""Client-side rate limits sized to Replicate's (600 creates/min, 3000 other requests/min
per account), so a burst of jobs queues here instead of collecting 429s.

Two layers: a token bucket per replica smooths requests out, and a per-minute window
counter in a JetStream key-value bucket (compare-and-set) keeps the sum of all replicas
under the account's limit. A replica takes tokens from the window in small leases, so the
shared counter costs one round trip per lease, not per request. When NATS cannot be asked,
the replica keeps its local bucket only (degraded, logged) rather than stopping work.

Example::

    limiter = RateLimiter("create", per_minute=600, window=KvWindow(kv))
    await limiter.acquire()          # then POST /v1/predictions
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Protocol

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

from shared.logging import get_logger

log = get_logger(__name__)

WINDOW_S = 60


class TokenBucket:
    """`per_minute` tokens a minute, up to `burst` saved up. `reserve` takes a token now
    and says how long to wait for it (tokens go negative, so waiters queue in order)."""

    def __init__(
        self, per_minute: int, burst: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / WINDOW_S
        # Replicate allows short bursts above the rate: a quarter minute's worth saved up
        # lets a fan-out of many scenes start at once; the minute window still holds.
        self.burst = float(burst if burst is not None else max(1, per_minute // 4))
        self.clock = clock
        self.tokens = self.burst
        self.stamp = clock()

    def reserve(self) -> float:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)


class Window(Protocol):
    async def take(self, name: str, window: int, count: int, limit: int) -> int:
        """Take up to `count` of `limit` tokens of minute `window`; returns how many."""
        ...


class KvWindow:
    """Per-minute counters `rate.<name>.<minute>` in a key-value bucket whose TTL drops
    old minutes; every change is a compare-and-set on the key's revision."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def take(self, name: str, window: int, count: int, limit: int) -> int:
        key = f"rate.{name}.{window}"
        while True:
            try:
                entry = await self.kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                granted = min(count, limit)
                try:
                    await self.kv.create(key, str(granted).encode())
                    return granted
                except nats.js.errors.KeyWrongLastSequenceError:
                    continue
            used = int((entry.value or b"0").decode())
            granted = min(count, limit - used)
            if granted <= 0:
                return 0
            try:
                await self.kv.update(key, str(used + granted).encode(), last=entry.revision)
                return granted
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # another replica took tokens first: read again


class RateLimiter:
    def __init__(
        self,
        name: str,
        per_minute: int,
        window: Window | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.per_minute = per_minute
        self.bucket = TokenBucket(per_minute)
        self.window = window
        self.clock = clock
        self.lease_size = max(1, min(20, per_minute // 60))
        self._lease_minute = -1
        self._leased = 0
        self._lock = asyncio.Lock()
        self.waited_s = 0.0

    async def acquire(self) -> None:
        started = time.monotonic()
        await self.bucket.acquire()
        if self.window is not None:
            async with self._lock:
                await self._take_shared()
        self.waited_s += time.monotonic() - started

    async def _take_shared(self) -> None:
        assert self.window is not None
        while True:
            now = self.clock()
            minute = int(now // WINDOW_S)
            if self._lease_minute == minute and self._leased > 0:
                self._leased -= 1
                return
            try:
                granted = await self.window.take(
                    self.name, minute, self.lease_size, self.per_minute
                )
            except (nats.errors.Error, TimeoutError, ValueError) as exc:
                log.warning(
                    "replicate.rate_window_unavailable",
                    extra={"limiter": self.name, "error": repr(exc)},
                )
                return
            if granted > 0:
                self._lease_minute, self._leased = minute, granted - 1
                return
            # The account's minute is used up across replicas: wait for the next one.
            await asyncio.sleep((minute + 1) * WINDOW_S - now + random.uniform(0, 0.5))


class RequestLimits:
    """The two limits Replicate applies: creates, and every other API request."""

    def __init__(
        self, creates_per_minute: int, requests_per_minute: int, window: Window | None = None
    ) -> None:
        self.create = RateLimiter("create", creates_per_minute, window)
        self.other = RateLimiter("other", requests_per_minute, window)
