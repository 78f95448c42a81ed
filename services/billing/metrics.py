"""Billing's own series, next to the shared ones every service exposes: money by model,
today's running total, the budget's limits and state, and how good the estimates are.

Example::

    show_budget(budget_state(exposure, limits, now))   # after anything that moves money
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.billing import BudgetState

COST_USD = Counter("reelsmith_cost_usd_total", "USD recorded in the cost ledger", ["model"])
COST_ACCURACY = Histogram(
    "reelsmith_cost_accuracy_ratio",
    "Actual / estimated cost of each completed job (1.0 = the quote was exact)",
    buckets=(0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.3, 1.5, 2.0, float("inf")),
)
COMMITS = Counter(
    "reelsmith_budget_commits_total", "Budget commits by outcome (accepted, refused)", ["outcome"]
)
COST_TODAY = Gauge(
    "reelsmith_cost_today_usd", "USD recorded in the cost ledger for the current UTC day"
)
BUDGET_COMMITTED = Gauge(
    "reelsmith_budget_committed_usd",
    "USD reserved today by running jobs and not spent yet (counts against the budget)",
)
BUDGET_LIMIT = Gauge("reelsmith_budget_limit_usd", "The daily budget's limits", ["level"])
BUDGET_STATE = Gauge(
    "reelsmith_budget_state",
    "1 for the daily budget's current state (ok, soft_exceeded, hard_exceeded), else 0; "
    "hard_exceeded means new paid work is refused until the next UTC day",
    ["state"],
)
BUDGET_STATES = ("ok", "soft_exceeded", "hard_exceeded")


def show_budget(state: BudgetState) -> None:
    COST_TODAY.set(state.spent_today_usd)
    BUDGET_COMMITTED.set(state.committed_usd)
    BUDGET_LIMIT.labels("soft").set(state.soft_limit_usd)
    BUDGET_LIMIT.labels("hard").set(state.hard_limit_usd)
    for name in BUDGET_STATES:
        BUDGET_STATE.labels(name).set(1 if name == state.state else 0)
