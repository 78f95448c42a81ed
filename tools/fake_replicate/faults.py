"""Seeded dice for fault injection, so a given seed and request order give the same faults."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from tools.fake_replicate.config import Faults
from tools.fake_replicate.records import Fate

T = TypeVar("T")


class Dice:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def roll(self, fraction: float) -> bool:
        """True with probability `fraction` (never draws when the fraction is 0 or 1, so
        turning an unrelated knob on does not shift every later decision)."""
        if fraction <= 0.0:
            return False
        if fraction >= 1.0:
            return True
        return self._rng.random() < fraction

    def choice(self, options: Sequence[T]) -> T:
        return options[0] if len(options) == 1 else self._rng.choice(options)

    def uniform(self, low: float, high: float) -> float:
        return self._rng.uniform(low, high)

    def seed(self) -> int:
        return self._rng.randrange(1, 2**31)


def fate(dice: Dice, faults: Faults) -> Fate:
    """How a new prediction will end."""
    if dice.roll(faults.hanging_fraction):
        return "hanging"
    if dice.roll(faults.content_policy_fraction):
        return "content_policy"
    if dice.roll(faults.failed_fraction):
        return "failed"
    return "ok"
