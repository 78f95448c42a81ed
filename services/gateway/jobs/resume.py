"""The resume loop: jobs paused for the daily budget go on once billing takes their held
stage. It looks at paused jobs, the longest paused first, when billing announces that the
budget changed (`billing.budget.changed`: an admin raised today's limit, or a new UTC day
began; heard by every replica), at UTC midnight by its own clock, and every
`PAUSED_RESUME_INTERVAL_S` as a safety net (an announcement missed while NATS was away).

Each paused job is reserved with billing again, with the terms of the request it holds
(`jobs.reservations.terms_of`), so the commit id is the one its command used. Accepted:
the held request is sent as the command would have sent it (`jobs.pauses.resume`), in a
transaction that first checks the job is still paused as it was, so of two replicas only
one moves it (billing reserves a commit id once, so the other's reservation costs
nothing). Refused: the sweep stops, since billing admits nothing more today until the
budget changes, and younger jobs do not jump the queue. Paused jobs live in SQLite, so a
restarted gateway finds them on its first sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from aiohttp import web
from prometheus_client import Counter

from services.gateway.appkeys import BUS, DB, RESUMER, SETTINGS
from services.gateway.background import Loop
from services.gateway.clients.billing import BillingError, BillingUnavailable
from services.gateway.jobs.commands import estimate_columns
from services.gateway.jobs.pauses import resume
from services.gateway.jobs.reaper import announcer
from services.gateway.jobs.reservations import reserve, terms_of
from services.gateway.jobs.stages import Outcome
from services.gateway.jobs.store import JobRecord, find, get, paused_jobs
from shared.billing import BudgetChanged
from shared.bus import Bus
from shared.db import Database
from shared.events import Event, utc_now
from shared.logging import get_logger, log_context
from shared.models import JobStatus

log = get_logger(__name__)

SWEEP_LIMIT = 200
# Looked at a little after midnight, so billing's clock is surely on the new day.
MIDNIGHT_MARGIN_S = 1.0
RESUMED = Counter(
    "reelsmith_jobs_resumed_total",
    "Jobs paused for the daily budget whose held stage started, by stage",
    ["stage"],
)


def next_look_s(now: datetime, every_s: float) -> float:
    """How long the loop waits before it looks again (unless woken): the safety net's
    interval, or until just past UTC midnight, when a new day's budget begins."""
    midnight = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(), UTC)
    return min(every_s, (midnight - now).total_seconds() + MIDNIGHT_MARGIN_S)


class Resumer:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        backend: str,
        every_s: float,
        on_change: Callable[[Outcome], None] = lambda _: None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.bus = bus
        self.backend = backend
        self.every_s = every_s
        self.on_change = on_change
        self.clock = clock
        self.sweeps = 0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the paused jobs now (the budget changed)."""
        self._wake.set()

    async def on_budget_changed(self, event: Event[Any]) -> None:
        changed: BudgetChanged = event.data
        log.info("jobs.budget_changed", extra={"reason": changed.reason, "day": str(changed.day)})
        self.wake()

    async def sweep(self) -> list[Outcome]:
        """One pass over the paused jobs, oldest first; the jobs resumed. `sweeps` counts
        the passes finished."""
        outcomes: list[Outcome] = []
        try:
            for job_id in await paused_jobs(self.db, SWEEP_LIMIT):
                with log_context(job_id=job_id):
                    result = await self._try(job_id)
                if result is False:
                    break
                if isinstance(result, Outcome):
                    outcomes.append(result)
                    self.on_change(result)
        finally:
            self.sweeps += 1
        return outcomes

    async def _try(self, job_id: str) -> Outcome | bool:
        """The job resumed; True to go on with the next one (this one is no longer paused,
        or billing cannot price it); False to stop (billing refused or is away)."""
        record = await get(self.db, job_id)
        if record is None or record.job.status != JobStatus.paused or record.held is None:
            return True
        terms = terms_of(job_id, record.held.payload)
        try:
            reservation = await reserve(self.bus, self.backend, job_id, record.client_id, terms)
        except BillingUnavailable as exc:
            log.warning("jobs.resume_billing_unavailable", extra={"error": str(exc)})
            return False
        except BillingError as exc:
            log.error("jobs.resume_refused", extra={"code": exc.code, "error": exc.message})
            return True
        if not reservation.accepted:
            return False
        # A refinement's quote is one scene's: the job keeps its own estimate.
        columns = estimate_columns(reservation.estimate) if terms.stage != "refine" else {}
        async with self.db.transaction() as tx:
            current = await find(tx, job_id)
            if not _still_holding(current, record):
                return True  # canceled meanwhile, or another replica resumed it
            assert current is not None
            updated = await resume(tx, current, **columns)
        RESUMED.labels(terms.stage).inc()
        paused = record.job.paused
        log.info(
            "job.resumed",
            extra={"stage": terms.stage, "paused_since": str(paused.since) if paused else None},
        )
        return Outcome(updated, None)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self.bus.subscribe_broadcast(BudgetChanged, self.on_budget_changed)
        except Exception:
            # Without the announcements the safety net and midnight still resume jobs.
            log.exception("jobs.budget_subscription_failed")
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("jobs.resume_sweep_failed")
            await self._wait(stop)

    async def _wait(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(
                waiters,
                timeout=next_look_s(self.clock(), self.every_s),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
        self._wake.clear()


def _still_holding(current: JobRecord | None, seen: JobRecord) -> bool:
    return (
        current is not None
        and current.job.status == JobStatus.paused
        and current.held is not None
        and current.held == seen.held
    )


def resume_loop(app: web.Application) -> Loop:
    """The loop on the app (views wake it after an admin raises the limit)."""
    settings = app[SETTINGS]
    app[RESUMER] = Resumer(
        app[DB],
        app[BUS],
        settings.generation_backend,
        settings.paused_resume_interval_s,
        announcer(app),
    )
    return app[RESUMER].run
