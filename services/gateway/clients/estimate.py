"""A job's estimate as the gateway keeps it: the total and its line items."""

from __future__ import annotations

from dataclasses import dataclass

from shared.models import CostItem


@dataclass(frozen=True)
class Estimate:
    total_usd: float
    items: list[CostItem]
