"""billing.db: the cost ledger and its roll-ups, commitments of running jobs, the budget
alerts, and the limits an admin set for a day with their audit trail. Writes take the
caller's transaction, so a check and what follows from it (a reservation, an alert, a
change and its audit row) commit together."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

from services.billing.budget import BudgetLimits, Exposure, utc_day
from shared.billing import (
    BudgetAlert,
    ClientSpend,
    CostRecorded,
    DaySpend,
    LimitsChange,
    ModelSpend,
)
from shared.db import Database, Transaction


class Reader(Protocol):
    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None: ...


def iso(moment: datetime) -> str:
    """One text form for every stored time, so they compare as strings."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class JobTotal:
    job_id: str
    client_id: str
    actual_usd: float
    estimated_usd: float | None
    cost_events: int

    @property
    def ratio(self) -> float | None:
        """actual / estimated, the accuracy of the quote."""
        if not self.estimated_usd:
            return None
        return round(self.actual_usd / self.estimated_usd, 4)


@dataclass(frozen=True)
class PendingAlert:
    event_id: str
    job_id: str
    client_id: str
    alert: BudgetAlert


@dataclass(frozen=True)
class Spend:
    total_usd: float
    by_client: list[ClientSpend]
    by_model: list[ModelSpend]
    by_day: list[DaySpend]


class Ledger:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self, tx: Transaction, cost: CostRecorded, event_id: str, now: datetime
    ) -> bool:
        """Add a charge and roll it up; False if its idempotency key is already here."""
        day = utc_day(cost.occurred_at).isoformat()
        cur = await tx.execute(
            "INSERT OR IGNORE INTO cost_ledger (idempotency_key, event_id, job_id, client_id,"
            " stage, scene, provider, model, prediction_id, kind, unit, units, hardware,"
            " unit_price_usd, amount_usd, outcome, day, occurred_at, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cost.idempotency_key,
                event_id,
                cost.job_id,
                cost.client_id,
                cost.stage,
                cost.scene,
                cost.provider,
                cost.model,
                cost.prediction_id,
                cost.kind,
                cost.unit,
                cost.units,
                cost.hardware,
                cost.unit_price_usd,
                cost.amount_usd,
                cost.outcome,
                day,
                iso(cost.occurred_at),
                iso(now),
            ),
        )
        if cur.rowcount != 1:
            return False
        await tx.execute(
            "INSERT INTO job_costs (job_id, client_id, actual_usd, cost_events, updated_at)"
            " VALUES (?, ?, ?, 1, ?)"
            " ON CONFLICT (job_id) DO UPDATE SET actual_usd = actual_usd + excluded.actual_usd,"
            " cost_events = cost_events + 1, updated_at = excluded.updated_at",
            (cost.job_id, cost.client_id, cost.amount_usd, iso(now)),
        )
        await tx.execute(
            "INSERT INTO daily_costs (day, client_id, model, unit, units, amount_usd, cost_events)"
            " VALUES (?, ?, ?, ?, ?, ?, 1)"
            " ON CONFLICT (day, client_id, model, unit) DO UPDATE SET"
            " units = units + excluded.units, amount_usd = amount_usd + excluded.amount_usd,"
            " cost_events = cost_events + 1",
            (day, cost.client_id, cost.model, cost.unit, cost.units, cost.amount_usd),
        )
        return True

    async def job_total(self, reader: Reader, job_id: str) -> JobTotal | None:
        row = await reader.fetchone(
            "SELECT job_id, client_id, actual_usd, estimated_usd, cost_events"
            " FROM job_costs WHERE job_id = ?",
            (job_id,),
        )
        if row is None:
            return None
        return JobTotal(
            job_id=row["job_id"],
            client_id=row["client_id"],
            actual_usd=round(row["actual_usd"], 6),
            estimated_usd=row["estimated_usd"],
            cost_events=row["cost_events"],
        )

    async def exposure(self, reader: Reader, day: date, open_since: datetime) -> Exposure:
        """Spent on `day`, plus what open commitments (made after `open_since`) have
        reserved beyond what their jobs already spent."""
        spent = await reader.fetchone(
            "SELECT COALESCE(SUM(amount_usd), 0) AS usd FROM daily_costs WHERE day = ?",
            (day.isoformat(),),
        )
        committed = await reader.fetchone(
            "SELECT COALESCE(SUM(MAX(0.0, c.usd - COALESCE(j.actual_usd, 0.0))), 0) AS usd"
            " FROM (SELECT job_id, SUM(amount_usd) AS usd FROM commitments"
            "       WHERE released_at IS NULL AND created_at >= ? GROUP BY job_id) AS c"
            " LEFT JOIN job_costs AS j ON j.job_id = c.job_id",
            (iso(open_since),),
        )
        assert spent is not None and committed is not None
        return Exposure(spent_today_usd=spent["usd"], committed_usd=committed["usd"])

    async def commitment(self, reader: Reader, commit_id: str) -> float | None:
        """The amount held open under `commit_id`, or None if nothing is."""
        row = await reader.fetchone(
            "SELECT amount_usd FROM commitments WHERE commit_id = ? AND released_at IS NULL",
            (commit_id,),
        )
        return None if row is None else float(row["amount_usd"])

    async def commit(
        self,
        tx: Transaction,
        *,
        commit_id: str,
        job_id: str,
        client_id: str,
        stage: str,
        amount_usd: float,
        estimated_usd: float | None,
        now: datetime,
    ) -> None:
        """Reserve `amount_usd` under `commit_id`; `estimated_usd` is the job's whole
        estimate (None keeps the one it has: a refinement is not part of the brief's quote)."""
        # A released key is a new attempt at the stage (a render retried after it failed):
        # it reserves again and the job is open again.
        await tx.execute(
            "INSERT INTO commitments (commit_id, job_id, client_id, stage, amount_usd, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (commit_id) DO UPDATE SET amount_usd = excluded.amount_usd,"
            " created_at = excluded.created_at, released_at = NULL",
            (commit_id, job_id, client_id, stage, amount_usd, iso(now)),
        )
        await tx.execute(
            "INSERT INTO job_costs (job_id, client_id, estimated_usd, updated_at)"
            " VALUES (?, ?, ?, ?)"
            " ON CONFLICT (job_id) DO UPDATE SET"
            " estimated_usd = COALESCE(excluded.estimated_usd, job_costs.estimated_usd),"
            " outcome = NULL, closed_at = NULL, updated_at = excluded.updated_at",
            (job_id, client_id, estimated_usd, iso(now)),
        )

    async def close_job(self, tx: Transaction, job_id: str, outcome: str, now: datetime) -> bool:
        """Release the job's commitments; True the first time the job is closed."""
        await tx.execute(
            "UPDATE commitments SET released_at = ? WHERE job_id = ? AND released_at IS NULL",
            (iso(now), job_id),
        )
        cur = await tx.execute(
            "UPDATE job_costs SET outcome = ?, closed_at = ?, updated_at = ?"
            " WHERE job_id = ? AND closed_at IS NULL",
            (outcome, iso(now), iso(now), job_id),
        )
        return cur.rowcount == 1

    async def add_alert(
        self,
        tx: Transaction,
        alert: BudgetAlert,
        *,
        event_id: str,
        job_id: str,
        client_id: str,
        now: datetime,
    ) -> bool:
        """Store the day's alert of this level; False if the day already has one."""
        cur = await tx.execute(
            "INSERT OR IGNORE INTO budget_alerts"
            " (day, level, event_id, job_id, client_id, payload, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                alert.day.isoformat(),
                alert.level,
                event_id,
                job_id,
                client_id,
                alert.model_dump_json(),
                iso(now),
            ),
        )
        return cur.rowcount == 1

    async def unpublished_alerts(self) -> list[PendingAlert]:
        rows = await self.db.fetchall(
            "SELECT event_id, job_id, client_id, payload FROM budget_alerts"
            " WHERE published_at IS NULL ORDER BY created_at"
        )
        return [
            PendingAlert(
                event_id=row["event_id"],
                job_id=row["job_id"],
                client_id=row["client_id"],
                alert=BudgetAlert.model_validate_json(row["payload"]),
            )
            for row in rows
        ]

    async def alert_published(self, event_id: str, now: datetime) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE budget_alerts SET published_at = ? WHERE event_id = ?",
                (iso(now), event_id),
            )

    async def limits(
        self, reader: Reader, day: date, defaults: BudgetLimits
    ) -> tuple[BudgetLimits, bool]:
        """The limits of `day`: an admin's override, else `defaults`; and whether overridden."""
        row = await reader.fetchone(
            "SELECT soft_usd, hard_usd FROM budget_overrides WHERE day = ?", (day.isoformat(),)
        )
        if row is None:
            return defaults, False
        return BudgetLimits(soft_usd=row["soft_usd"], hard_usd=row["hard_usd"]), True

    async def set_limits(
        self,
        tx: Transaction,
        day: date,
        old: BudgetLimits,
        new: BudgetLimits,
        *,
        changed_by: str,
        reason: str,
        now: datetime,
    ) -> LimitsChange:
        """Set `day`'s limits and audit the change (old → new, who, when, why)."""
        await tx.execute(
            "INSERT INTO budget_overrides (day, soft_usd, hard_usd, set_by, set_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (day) DO UPDATE SET soft_usd = excluded.soft_usd,"
            " hard_usd = excluded.hard_usd, set_by = excluded.set_by, set_at = excluded.set_at",
            (day.isoformat(), new.soft_usd, new.hard_usd, changed_by, iso(now)),
        )
        await tx.execute(
            "INSERT INTO budget_changes (day, changed_by, changed_at, old_soft, old_hard,"
            " new_soft, new_hard, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                day.isoformat(),
                changed_by,
                iso(now),
                old.soft_usd,
                old.hard_usd,
                new.soft_usd,
                new.hard_usd,
                reason,
            ),
        )
        return LimitsChange(
            day=day,
            changed_by=changed_by,
            changed_at=now,
            old_soft_limit_usd=old.soft_usd,
            old_hard_limit_usd=old.hard_usd,
            new_soft_limit_usd=new.soft_usd,
            new_hard_limit_usd=new.hard_usd,
            reason=reason,
        )

    async def limit_changes(self, since: date) -> list[LimitsChange]:
        """The audit trail of limit changes from `since` (a UTC day) on, newest first."""
        rows = await self.db.fetchall(
            "SELECT day, changed_by, changed_at, old_soft, old_hard, new_soft, new_hard, reason"
            " FROM budget_changes WHERE day >= ? ORDER BY id DESC",
            (since.isoformat(),),
        )
        return [
            LimitsChange(
                day=row["day"],
                changed_by=row["changed_by"],
                changed_at=row["changed_at"],
                old_soft_limit_usd=row["old_soft"],
                old_hard_limit_usd=row["old_hard"],
                new_soft_limit_usd=row["new_soft"],
                new_hard_limit_usd=row["new_hard"],
                reason=row["reason"],
            )
            for row in rows
        ]

    async def spend(self, client_id: str | None, start: date, end: date) -> Spend:
        """Roll-ups for `start`..`end` (UTC days, inclusive), one client or all."""
        where = "day BETWEEN ? AND ?"
        params: tuple[str, ...] = (start.isoformat(), end.isoformat())
        if client_id is not None:
            where += " AND client_id = ?"
            params += (client_id,)
        sums = "SUM(amount_usd) AS usd, SUM(cost_events) AS n"
        clients = await self.db.fetchall(
            f"SELECT client_id, {sums} FROM daily_costs WHERE {where}"
            " GROUP BY client_id ORDER BY usd DESC, client_id",
            params,
        )
        models = await self.db.fetchall(
            f"SELECT model, unit, SUM(units) AS units, {sums} FROM daily_costs WHERE {where}"
            " GROUP BY model, unit ORDER BY usd DESC, model, unit",
            params,
        )
        days = await self.db.fetchall(
            f"SELECT day, {sums} FROM daily_costs WHERE {where} GROUP BY day ORDER BY day",
            params,
        )
        return Spend(
            total_usd=round(sum(row["usd"] for row in days), 6),
            by_client=[
                ClientSpend(
                    client_id=r["client_id"], amount_usd=round(r["usd"], 6), cost_events=r["n"]
                )
                for r in clients
            ],
            by_model=[
                ModelSpend(
                    model=r["model"],
                    unit=r["unit"],
                    units=round(r["units"], 6),
                    amount_usd=round(r["usd"], 6),
                    cost_events=r["n"],
                )
                for r in models
            ],
            by_day=[
                DaySpend(day=r["day"], amount_usd=round(r["usd"], 6), cost_events=r["n"])
                for r in days
            ],
        )
