"""The daily budget: where today's money stands against the soft and hard limits.

Exposure is what today may cost: money spent today plus money committed by running jobs
(their estimate minus what they have spent). Work is admitted while exposure is below
the hard limit, so a burst overshoots it by at most the last admitted estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from shared.billing import BudgetLevel, BudgetState, BudgetStatus


@dataclass(frozen=True)
class BudgetLimits:
    soft_usd: float
    hard_usd: float


@dataclass(frozen=True)
class Exposure:
    spent_today_usd: float
    committed_usd: float

    @property
    def total_usd(self) -> float:
        return self.spent_today_usd + self.committed_usd


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def next_midnight(now: datetime) -> datetime:
    return datetime.combine(utc_day(now) + timedelta(days=1), time(), tzinfo=UTC)


def seconds_until_midnight(now: datetime) -> int:
    """For `Retry-After`: whole seconds, never 0 (a client retrying at once is refused)."""
    return max(1, math.ceil((next_midnight(now) - now).total_seconds()))


def levels_reached(exposure: Exposure, limits: BudgetLimits) -> list[BudgetLevel]:
    reached: list[BudgetLevel] = []
    if exposure.total_usd >= limits.soft_usd:
        reached.append("soft")
    if exposure.total_usd >= limits.hard_usd:
        reached.append("hard")
    return reached


def status(exposure: Exposure, limits: BudgetLimits) -> BudgetStatus:
    reached = levels_reached(exposure, limits)
    if "hard" in reached:
        return "hard_exceeded"
    return "soft_exceeded" if reached else "ok"


def budget_state(exposure: Exposure, limits: BudgetLimits, now: datetime) -> BudgetState:
    state = status(exposure, limits)
    return BudgetState(
        day=utc_day(now),
        spent_today_usd=round(exposure.spent_today_usd, 6),
        committed_usd=round(exposure.committed_usd, 6),
        soft_limit_usd=limits.soft_usd,
        hard_limit_usd=limits.hard_usd,
        state=state,
        resets_at=next_midnight(now),
        retry_after_s=seconds_until_midnight(now) if state == "hard_exceeded" else None,
    )


def admits(exposure: Exposure, limits: BudgetLimits, amount_usd: float) -> bool:
    """Free work always runs; paid work only while the hard limit is not reached."""
    return amount_usd <= 0 or exposure.total_usd < limits.hard_usd
