"""Billing's handlers: one async function per subject, events and requests alike.

Every write happens in one SQLite transaction with the check it depends on (a cost row
with its roll-ups and alerts; a budget check with its reservation; a change of today's
limits with its audit row), so the service is idempotent under redelivery and a burst of
commits is decided one at a time. A day's limits are the configured ones unless an admin
set that day's (`billing.limits.set`); each change, and each new UTC day, is announced
as `billing.budget.changed` so paid work held for the budget can go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from services.billing.budget import (
    BudgetLimits,
    Exposure,
    admits,
    budget_state,
    levels_reached,
    next_midnight,
    seconds_until_midnight,
    utc_day,
)
from services.billing.ledger import JobTotal, Ledger, Reader
from services.billing.metrics import COMMITS, COST_ACCURACY, COST_USD, show_budget
from services.billing.pricing import quote, refine_quote
from shared.billing import (
    BudgetAlert,
    BudgetChanged,
    BudgetState,
    CommitReply,
    CommitRequest,
    CostRecorded,
    JobCostUpdated,
    Limits,
    LimitsChangeRequest,
    LimitsRequest,
    Quote,
    QuoteRequest,
    Summary,
    SummaryRequest,
)
from shared.bus import Bus
from shared.db import Database, Transaction
from shared.events import Event, derived_id
from shared.logging import get_logger, log_context
from shared.micro import RequestError
from shared.models import GenerationRequest
from shared.pricing import PricingError, PricingSource

log = get_logger(__name__)

Clock = Callable[[], datetime]

# How a job ended, by the subject that says so. A job's open commitments are released
# then: what it did not spend goes back to the day's budget.
JOB_ENDINGS = {
    "jobs.canceled": "canceled",
    "jobs.storyboard.failed": "failed",
    "jobs.render.failed": "failed",
    "jobs.render.completed": "completed",
}


class BillingHandlers:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        pricing: PricingSource,
        limits: BudgetLimits,
        clock: Clock,
        commitment_ttl_s: float,
    ) -> None:
        self.db = db
        self.bus = bus
        self.ledger = Ledger(db)
        self.pricing = pricing
        # The configured limits; a day an admin changed has its own (`_limits`).
        self.limits = limits
        self.clock = clock
        self.commitment_ttl = timedelta(seconds=commitment_ttl_s)
        self._alerts_lock = asyncio.Lock()

    # --- events ----------------------------------------------------------------------

    async def on_cost_recorded(self, event: Event[CostRecorded]) -> None:
        cost, now = event.data, self.clock()
        async with self.db.transaction() as tx:
            recorded = await self.ledger.record(tx, cost, event.id, now)
            alerts: list[BudgetAlert] = []
            if recorded:
                _, alerts = await self._check_limits(tx, now, cost.job_id, cost.client_id)
            job = await self.ledger.job_total(tx, cost.job_id)
        assert job is not None
        if recorded:
            COST_USD.labels(cost.model).inc(cost.amount_usd)
            log.info(
                "job.cost_updated",
                extra={
                    "model": cost.model,
                    "amount_usd": cost.amount_usd,
                    "actual_cost": job.actual_usd,
                    "estimated_cost": job.estimated_usd,
                    "cost_ratio": job.ratio,
                },
            )
        else:
            log.info("cost.duplicate", extra={"idempotency_key": cost.idempotency_key})
        _log_alerts(alerts)
        await self.refresh_budget_metrics()
        # Also after a duplicate: the first delivery may have died between its commit and
        # this publish. The id derives from the total, so a repeat is dropped by JetStream.
        await self._announce_job_cost(job, event.attempt)
        await self.publish_pending_alerts(raise_errors=True)

    async def on_job_ended(self, event: Event[Any]) -> None:
        if any(getattr(event.data, f, None) is not None for f in ("refined_scene", "export_id")):
            return  # a refinement or an export ending leaves the job as it was
        outcome, now = JOB_ENDINGS[event.type], self.clock()
        async with self.db.transaction() as tx:
            closed = await self.ledger.close_job(tx, event.job_id, outcome, now)
            job = await self.ledger.job_total(tx, event.job_id)
        if not closed or job is None:
            return
        await self.refresh_budget_metrics()
        log.info(
            "job.cost_closed",
            extra={
                "outcome": outcome,
                "actual_cost": job.actual_usd,
                "estimated_cost": job.estimated_usd,
                "cost_ratio": job.ratio,
            },
        )
        if outcome == "completed" and job.ratio is not None:
            COST_ACCURACY.observe(job.ratio)

    # --- requests --------------------------------------------------------------------

    async def on_quote(self, request: QuoteRequest) -> Quote:
        estimate = self._quote(request.request, request.backend, request.scene_durations_s)
        estimate.budget = await self._state(self.clock())
        show_budget(estimate.budget)
        return estimate

    async def on_commit(self, request: CommitRequest) -> CommitReply:
        """Check the budget and reserve the stage's estimate in one transaction: commits
        are decided one after another, so a burst cannot all see the same headroom."""
        estimate = self._commit_quote(request)
        amount, now = estimate.stage_cost(request.stage), self.clock()
        alerts: list[BudgetAlert] = []
        async with self.db.transaction() as tx:
            held = await self.ledger.commitment(tx, request.key)
            exposure = await self._exposure(tx, now)
            limits = await self._limits(tx, utc_day(now))
            accepted = held is not None or admits(exposure, limits, amount)
            if held is not None:
                amount = held
            elif accepted:
                await self.ledger.commit(
                    tx,
                    commit_id=request.key,
                    job_id=request.job_id,
                    client_id=request.client_id,
                    stage=request.stage,
                    amount_usd=amount,
                    # A refinement's quote is one scene's, not the job's estimate.
                    estimated_usd=None if request.stage == "refine" else estimate.estimated_cost,
                    now=now,
                )
                exposure, alerts = await self._check_limits(
                    tx, now, request.job_id, request.client_id
                )
        state = budget_state(exposure, limits, now)
        estimate.budget = state
        show_budget(state)
        COMMITS.labels("accepted" if accepted else "refused").inc()
        with log_context(job_id=request.job_id):
            log.log(
                logging.INFO if accepted else logging.WARNING,
                "budget.committed" if accepted else "budget.commit_refused",
                extra={"stage": request.stage, "amount_usd": amount, "budget": state.state},
            )
        _log_alerts(alerts)
        await self.publish_pending_alerts(raise_errors=False)
        return CommitReply(
            accepted=accepted,
            commit_id=request.key,
            job_id=request.job_id,
            stage=request.stage,
            amount_usd=amount if accepted else 0.0,
            quote=estimate,
            budget=state,
            reason=None if accepted else "daily_budget_exhausted",
            retry_after_s=None if accepted else seconds_until_midnight(now),
        )

    async def on_summary(self, request: SummaryRequest) -> Summary:
        now = self.clock()
        today = utc_day(now)
        if request.day is not None:
            start = end = request.day
        else:
            start, end = today - timedelta(days=request.days - 1), today
        spend = await self.ledger.spend(request.client_id, start, end)
        budget: BudgetState | None = None
        if request.client_id is None:
            budget = await self._state(now)
        return Summary(
            client_id=request.client_id,
            start_day=start,
            end_day=end,
            total_usd=spend.total_usd,
            by_client=spend.by_client,
            by_model=spend.by_model,
            by_day=spend.by_day,
            budget=budget,
        )

    async def on_limits(self, request: LimitsRequest) -> Limits:
        """Today's budget, its limits and the changes of the last `days` days."""
        return await self._limits_view(self.clock(), request.days)

    async def on_set_limits(self, request: LimitsChangeRequest) -> Limits:
        """Set today's limits (an admin's, the gateway checked), audited in the same
        transaction, then announce them: paid work held for the budget may go on."""
        now = self.clock()
        day = utc_day(now)
        async with self.db.transaction() as tx:
            old = await self._limits(tx, day)
            soft = request.soft_limit_usd
            new = BudgetLimits(
                soft_usd=soft if soft is not None else min(old.soft_usd, request.hard_limit_usd),
                hard_usd=request.hard_limit_usd,
            )
            change = await self.ledger.set_limits(
                tx, day, old, new, changed_by=request.changed_by, reason=request.reason, now=now
            )
            _, alerts = await self._check_limits(tx, now, "", request.changed_by)
        log.warning(
            "budget.limits_changed",
            extra={
                "day": day.isoformat(),
                "changed_by": change.changed_by,
                "old_soft_limit_usd": change.old_soft_limit_usd,
                "old_hard_limit_usd": change.old_hard_limit_usd,
                "new_soft_limit_usd": change.new_soft_limit_usd,
                "new_hard_limit_usd": change.new_hard_limit_usd,
                "reason": change.reason,
            },
        )
        _log_alerts(alerts)
        await self.publish_pending_alerts(raise_errors=False)
        await self._announce_budget(
            BudgetChanged(
                reason="limits_changed",
                day=day,
                soft_limit_usd=new.soft_usd,
                hard_limit_usd=new.hard_usd,
                changed_by=request.changed_by,
                occurred_at=now,
            ),
            client_id=request.changed_by,
        )
        view = await self._limits_view(now, days=7)
        show_budget(view.budget)
        return view

    async def _limits_view(self, now: datetime, days: int) -> Limits:
        day = utc_day(now)
        limits, overridden = await self.ledger.limits(self.db, day, self.limits)
        state = budget_state(await self._exposure(self.db, now), limits, now)
        return Limits(
            budget=state,
            default_soft_limit_usd=self.limits.soft_usd,
            default_hard_limit_usd=self.limits.hard_usd,
            overridden=overridden,
            changes=await self.ledger.limit_changes(day - timedelta(days=days - 1)),
        )

    # --- metrics ---------------------------------------------------------------------

    async def refresh_budget_metrics(self) -> BudgetState:
        """Today's spend and the budget's state, as gauges (see services/billing/metrics)."""
        state = await self._state(self.clock())
        show_budget(state)
        return state

    async def keep_budget(self, stop: asyncio.Event, every_s: float = 30.0) -> None:
        """Refresh the gauges now and then, so they drop expired commitments even while no
        money moves; wake at UTC midnight too, and announce the new day
        (`billing.budget.changed`): paid work held for yesterday's budget may go on."""
        day = utc_day(self.clock())
        while not stop.is_set():
            try:
                state = await self.refresh_budget_metrics()
                if state.day != day:
                    await self.announce_new_day(state.day)
                    day = state.day
            except Exception as exc:
                log.warning("budget.refresh_failed", extra={"error": repr(exc)})
            wait_s = min(every_s, seconds_until_midnight(self.clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait_s)

    async def announce_new_day(self, day: date) -> None:
        limits = await self._limits(self.db, day)
        log.info("budget.day_rolled_over", extra={"day": day.isoformat()})
        changed = BudgetChanged(
            reason="day_rolled_over",
            day=day,
            soft_limit_usd=limits.soft_usd,
            hard_limit_usd=limits.hard_usd,
            occurred_at=self.clock(),
        )
        # One id per day: a repeated announcement is dropped by JetStream.
        await self._announce_budget(changed, "billing", derived_id(changed.subject, str(day)))

    # --- publishing ------------------------------------------------------------------

    async def publish_pending_alerts(self, raise_errors: bool = True) -> None:
        """Send alerts committed but not yet published (also those a crash left behind)."""
        async with self._alerts_lock:
            try:
                for pending in await self.ledger.unpublished_alerts():
                    await self.bus.publish(
                        pending.alert.envelope(
                            job_id=pending.job_id,
                            client_id=pending.client_id,
                            event_id=pending.event_id,
                        )
                    )
                    await self.ledger.alert_published(pending.event_id, self.clock())
            except Exception as exc:
                if raise_errors:
                    raise
                log.warning("budget.alert_publish_failed", extra={"error": repr(exc)})

    async def _announce_budget(
        self, changed: BudgetChanged, client_id: str, event_id: str | None = None
    ) -> None:
        try:
            await self.bus.publish(
                changed.envelope(job_id="", client_id=client_id, event_id=event_id)
            )
        except Exception as exc:
            # The change stands; holders of paused work also look again on their own.
            log.warning("budget.change_publish_failed", extra={"error": repr(exc)})

    async def _announce_job_cost(self, job: JobTotal, attempt: int) -> None:
        update = JobCostUpdated(
            job_id=job.job_id,
            actual_cost=job.actual_usd,
            estimated_cost=job.estimated_usd,
            cost_events=job.cost_events,
        )
        event_id = derived_id(update.subject, job.job_id, f"{job.actual_usd:.6f}")
        await self.bus.publish(
            update.envelope(
                job_id=job.job_id, client_id=job.client_id, attempt=attempt, event_id=event_id
            )
        )

    # --- helpers ---------------------------------------------------------------------

    def _quote(
        self, request: GenerationRequest, backend: str, scene_durations_s: list[float] | None
    ) -> Quote:
        try:
            return quote(request, backend, self.pricing.table(), scene_durations_s)
        except PricingError as exc:
            raise RequestError("unpriced", str(exc)) from exc

    def _commit_quote(self, request: CommitRequest) -> Quote:
        """The quote a commit reserves from: the job's, or one scene's for a refinement."""
        if request.stage != "refine":
            return self._quote(request.request, request.backend, request.scene_durations_s)
        if not request.scene_durations_s or len(request.scene_durations_s) != 1:
            raise RequestError(
                "invalid_request",
                "a refine commit names the refined scene's length: scene_durations_s=[seconds]",
                status="400",
            )
        try:
            return refine_quote(
                request.request, request.backend, self.pricing.table(), request.scene_durations_s[0]
            )
        except PricingError as exc:
            raise RequestError("unpriced", str(exc)) from exc

    async def _exposure(self, reader: Reader, now: datetime) -> Exposure:
        return await self.ledger.exposure(reader, utc_day(now), now - self.commitment_ttl)

    async def _limits(self, reader: Reader, day: date) -> BudgetLimits:
        limits, _ = await self.ledger.limits(reader, day, self.limits)
        return limits

    async def _state(self, now: datetime) -> BudgetState:
        """Today's budget: exposure against the day's limits."""
        limits = await self._limits(self.db, utc_day(now))
        return budget_state(await self._exposure(self.db, now), limits, now)

    async def _check_limits(
        self, tx: Transaction, now: datetime, job_id: str, client_id: str
    ) -> tuple[Exposure, list[BudgetAlert]]:
        """Store today's alert for each limit the exposure has reached, once per day."""
        exposure = await self._exposure(tx, now)
        day = utc_day(now)
        limits = await self._limits(tx, day)
        new: list[BudgetAlert] = []
        for level in levels_reached(exposure, limits):
            alert = BudgetAlert(
                level=level,
                day=day,
                spent_today_usd=round(exposure.spent_today_usd, 6),
                committed_usd=round(exposure.committed_usd, 6),
                limit_usd=limits.soft_usd if level == "soft" else limits.hard_usd,
                resets_at=next_midnight(now),
            )
            event_id = derived_id(alert.subject, day.isoformat(), level)
            if await self.ledger.add_alert(
                tx, alert, event_id=event_id, job_id=job_id, client_id=client_id, now=now
            ):
                new.append(alert)
        return exposure, new


def _log_alerts(alerts: list[BudgetAlert]) -> None:
    for alert in alerts:
        log.warning(
            f"budget.{alert.level}_limit_reached",
            extra={
                "day": alert.day.isoformat(),
                "spent_today_usd": alert.spent_today_usd,
                "committed_usd": alert.committed_usd,
                "limit_usd": alert.limit_usd,
            },
        )
