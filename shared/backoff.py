"""How long to wait before retrying: the one exponential backoff every retry loop uses
(redeliveries, webhook attempts, Replicate requests, checkpoint saves, the outbox relay).

The n-th retry's step is `base_s * 2**(n - 1)`, capped at `cap_s`; `jitter` says how much
of the step is left to chance, so that replicas that failed together do not all come
back together:

- "none": the step itself (one process retrying its own work);
- "full": anywhere from `base_s` up to the step (never sooner than the base);
- "equal": half the step plus up to another half at random;
- "quarter": the step less up to a quarter at random.

Example::

    backoff = Backoff(base_s=0.5, cap_s=30.0, jitter="equal")
    await asyncio.sleep(backoff.delay_s(attempt))       # 0.25-0.5 s, 0.5-1 s, 1-2 s, ...
    backoff.delay_s(3, draw=0.0)                        # 1.0: a test fixes the chance
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

Jitter = Literal["none", "full", "equal", "quarter"]

# 2.0**1024 overflows a float; every step past this is the cap anyway.
_MAX_DOUBLINGS = 1000


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff from `base_s`, capped at `cap_s`, spread by `jitter`."""

    base_s: float
    cap_s: float = math.inf
    jitter: Jitter = "none"

    def step_s(self, n: int) -> float:
        """The n-th retry's step before jitter (n counts from 1; 0 or less is the base)."""
        doublings = min(max(0, n - 1), _MAX_DOUBLINGS)
        return float(min(self.cap_s, self.base_s * 2.0**doublings))

    def delay_s(self, n: int, draw: float | None = None) -> float:
        """The wait before the n-th retry. `draw`, in [0, 1), stands in for the random
        draw (a test, or a caller with its own random source); None draws one."""
        step = self.step_s(n)
        if self.jitter == "none":
            return step
        chance = random.random() if draw is None else draw
        if self.jitter == "full":
            return self.base_s + (step - self.base_s) * chance
        if self.jitter == "equal":
            return step / 2 + (step / 2) * chance
        if self.jitter == "quarter":
            return step * (1 - 0.25 * chance)
        raise ValueError(f"unknown jitter {self.jitter!r}")
