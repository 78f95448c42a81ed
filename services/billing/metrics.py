"""Billing's own series, next to the shared ones every service exposes."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

COST_USD = Counter("reelsmith_cost_usd_total", "USD recorded in the cost ledger", ["model"])
COST_ACCURACY = Histogram(
    "reelsmith_cost_accuracy_ratio",
    "Actual / estimated cost of each completed job (1.0 = the quote was exact)",
    buckets=(0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.3, 1.5, 2.0, float("inf")),
)
COMMITS = Counter(
    "reelsmith_budget_commits_total", "Budget commits by outcome (accepted, refused)", ["outcome"]
)
