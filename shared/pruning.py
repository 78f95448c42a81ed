"""Deleting what a table no longer needs, at most every so often: the one throttle behind
every prune (the outbox's published rows, expired idempotency keys, finished webhook
deliveries).

A prune is a write transaction; run on every tick of a loop that wakes every second it
would compete with the writes of requests for SQLite's one writer, for rows that only
become stale over hours.

Example::

    throttle = PruneThrottle(every_s=600)
    while not stop.is_set():
        await relay_once()
        await throttle.maybe(prune_published)     # the first call prunes, then every 10 min
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable


class PruneThrottle:
    """Lets a prune run at once, then at most once every `every_s` seconds of `clock`
    (monotonic, so a change of the wall clock neither skips nor repeats one)."""

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self._last: float | None = None

    def due(self) -> bool:
        """Whether a prune may run now; True also counts it as run (from now), so a prune
        that fails is not retried before the next period."""
        now = self.clock()
        if self._last is not None and now - self._last < self.every_s:
            return False
        self._last = now
        return True

    def until_due_s(self) -> float:
        """Seconds until the next prune is due (0 when it is due now)."""
        if self._last is None:
            return 0.0
        return max(0.0, self._last + self.every_s - self.clock())

    async def maybe(self, prune: Callable[[], Awaitable[object]]) -> bool:
        """Run `prune` if one is due; whether it ran. Its exceptions are the caller's."""
        if not self.due():
            return False
        await prune()
        return True
