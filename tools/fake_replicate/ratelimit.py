"""Requests per token per window (the real API's limits are per minute, reference §1.7)."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int


class RateLimiter:
    """A sliding window: at most `limit` requests per key in any `window_s` seconds."""

    def __init__(self, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[tuple[str, str], deque[float]] = {}

    def hit(self, token: str, bucket: str, limit: int) -> Verdict:
        now = self._clock()
        hits = self._hits.setdefault((token, bucket), deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= limit:
            reset = max(1, math.ceil(hits[0] + self.window_s - now))
            return Verdict(False, limit, 0, reset)
        hits.append(now)
        reset = math.ceil(hits[0] + self.window_s - now)
        return Verdict(True, limit, limit - len(hits), reset)

    def reset(self) -> None:
        self._hits.clear()
