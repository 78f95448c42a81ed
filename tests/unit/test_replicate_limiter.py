"""Client-side rate limits: a token bucket per replica and the shared per-minute window."""

from __future__ import annotations

import pytest

from shared.providers.replicate.limiter import RateLimiter, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_burst_then_spaces_requests_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(per_minute=600, burst=5, clock=clock)  # 10 a second
    assert [bucket.reserve() for _ in range(5)] == [0.0] * 5
    # Then each waits one more tenth of a second than the one before it.
    waits = [bucket.reserve() for _ in range(3)]
    assert waits == pytest.approx([0.1, 0.2, 0.3])
    # Time refills it.
    clock.now += 10
    assert bucket.reserve() == 0.0


class Window:
    """A shared minute counter as the key-value window keeps it."""

    def __init__(self) -> None:
        self.used: dict[tuple[str, int], int] = {}

    async def take(self, name: str, window: int, count: int, limit: int) -> int:
        used = self.used.get((name, window), 0)
        granted = max(0, min(count, limit - used))
        self.used[(name, window)] = used + granted
        return granted


async def test_replicas_share_one_minute_window() -> None:
    window, clock = Window(), Clock()
    clock.now = 60 * 1000 + 1  # the start of a minute
    a = RateLimiter("create", per_minute=120, window=window, clock=clock)
    b = RateLimiter("create", per_minute=120, window=window, clock=clock)
    a.bucket = TokenBucket(per_minute=10_000, burst=1000)  # local spacing out of the way
    b.bucket = TokenBucket(per_minute=10_000, burst=1000)
    for _ in range(60):
        await a.acquire()
        await b.acquire()
    # Leases of `lease_size` were taken from the shared counter: never more than the limit.
    assert window.used[("create", 1000)] <= 120
    assert window.used[("create", 1000)] >= 120 - 2 * a.lease_size


class BrokenWindow:
    async def take(self, name: str, window: int, count: int, limit: int) -> int:
        raise TimeoutError("nats is down")


async def test_an_unreachable_window_degrades_to_the_local_bucket() -> None:
    limiter = RateLimiter("other", per_minute=3000, window=BrokenWindow())
    await limiter.acquire()  # does not raise, does not hang
    assert limiter.waited_s < 1
