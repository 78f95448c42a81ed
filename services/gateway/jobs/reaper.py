"""The stuck-job reaper: a job whose running stage has not moved for STUCK_JOB_TIMEOUT_S
(no progress event refreshed its `updated_at`) gets the stage's request again, as the
next attempt, up to MAX_JOB_RETRIES times; then the stage is failed with a clear reason.

Stuck means: `queued`/`storyboarding` (storyboard), `refining`, `rendering`, or an export
of a completed job still unanswered. Each job is handled in its own transaction, claimed
with a conditional UPDATE, so several gateway replicas never retry the same job twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable

from aiohttp import web
from prometheus_client import Counter

from services.gateway.appkeys import BUS, CACHE, RELAY, SETTINGS
from services.gateway.jobs.cache import JobCache
from services.gateway.jobs.lifecycle import Stage, kind_of, running_stage, runs, stage_label
from services.gateway.jobs.stage_requests import StageRequest, claim_export, open_exports
from services.gateway.jobs.stages import Outcome, count_retry, give_up, stage_request, start_again
from services.gateway.jobs.store import JobRecord, claim_attempt, find, stuck_jobs
from services.gateway.metrics import job_ended
from shared.attempts import record_attempt
from shared.bus import Bus
from shared.db import Database, Transaction
from shared.logging import get_logger, log_context
from shared.models import JobStatus

log = get_logger(__name__)

SWEEP_LIMIT = 200
REAPED = Counter(
    "reelsmith_jobs_reaped_total",
    "Stuck stages found by the reaper, by stage and what was done (retried, failed)",
    ["stage", "outcome"],
)


def sweep_interval_s(timeout_s: float) -> float:
    """How often to look: a tenth of the timeout (a stuck job waits at most 10% longer
    than the timeout), between 0.1 s and a minute."""
    return min(60.0, max(0.1, timeout_s / 10))


def duration(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


class Reaper:
    def __init__(
        self,
        db: Database,
        timeout_s: float,
        max_retries: int,
        on_change: Callable[[Outcome], None] = lambda _: None,
    ) -> None:
        self.db = db
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.on_change = on_change

    async def sweep(self) -> list[Outcome]:
        """One pass over every stuck job; what was retried or failed."""
        row = await self.db.fetchone(
            "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?) AS cutoff",
            (f"-{self.timeout_s:.3f} seconds",),
        )
        if row is None:
            raise RuntimeError("reaper: SQLite returned no row for the cutoff time")
        cutoff: str = row["cutoff"]
        outcomes: list[Outcome] = []
        for job_id in await stuck_jobs(self.db, cutoff, SWEEP_LIMIT):
            with log_context(job_id=job_id):
                outcomes += await self._reap(job_id, cutoff)
        for outcome in outcomes:
            self.on_change(outcome)
        return outcomes

    async def _reap(self, job_id: str, cutoff: str) -> list[Outcome]:
        async with self.db.transaction() as tx:
            record = await find(tx, job_id)
            if record is None:
                return []
            stage = running_stage(record.job.status)
            if stage is not None:
                outcome = await self._reap_stage(tx, record, stage, cutoff)
                return [outcome] if outcome else []
            if not runs(record.job.status, Stage.export):
                return []
            outcomes = []
            for export in await open_exports(tx, job_id, cutoff):
                if outcome := await self._reap_export(tx, record, export, cutoff):
                    outcomes.append(outcome)
                    record = outcome.record
            return outcomes

    async def _reap_stage(
        self, tx: Transaction, record: JobRecord, stage: Stage, cutoff: str
    ) -> Outcome | None:
        request = await stage_request(tx, record, stage)
        attempt = await claim_attempt(tx, record, stale_before=cutoff)
        if attempt is None:
            return None  # moved on, or another replica took it
        if request is None or request.retries >= self.max_retries:
            reason = self._gave_up(stage, request.retries if request else 0)
            updated = await give_up(tx, record, stage, request, attempt, reason)
            self._log(stage, "failed", attempt, reason)
            return Outcome(updated, attempt)
        message = self._retrying(request.retries + 1)
        updated = await start_again(tx, record, request, attempt, message)
        await count_retry(tx, request)
        self._log(stage, "retried", attempt, message)
        return Outcome(updated, attempt)

    async def _reap_export(
        self, tx: Transaction, record: JobRecord, export: StageRequest, cutoff: str
    ) -> Outcome | None:
        # The job stays completed and keeps its attempt (other exports may be running), so
        # the export's own row is the claim.
        if not await claim_export(tx, export, cutoff):
            return None
        if export.retries >= self.max_retries:
            reason = self._gave_up(export.stage, export.retries)
            updated = await give_up(tx, record, export.stage, export, record.attempt, reason)
            self._log(export.stage, "failed", record.attempt, reason)
            return Outcome(updated, None)
        message = self._retrying(export.retries + 1)
        updated = await start_again(tx, record, export, record.attempt, message)
        await count_retry(tx, export)
        self._log(export.stage, "retried", record.attempt, message)
        return Outcome(updated, None)

    def _retrying(self, retry: int) -> str:
        return (
            f"no progress for {duration(self.timeout_s)}; started again"
            f" (retry {retry} of {self.max_retries})"
        )

    def _gave_up(self, stage: str, retries: int) -> str:
        plural = "retry" if retries == 1 else "retries"
        tail = f", even after {retries} automatic {plural}" if retries else ""
        return f"the {stage_label(stage)} stalled: no progress for {duration(self.timeout_s)}{tail}"

    @staticmethod
    def _log(stage: str, outcome: str, attempt: int, message: str) -> None:
        REAPED.labels(kind_of(stage), outcome).inc()
        log.warning(
            "job.reaped",
            extra={"stage": stage, "outcome": outcome, "attempt": attempt, "reason": message},
        )

    async def run(self, stop: asyncio.Event) -> None:
        interval = sweep_interval_s(self.timeout_s)
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("reaper.sweep_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


_RECORDING: set[asyncio.Task[bool]] = set()


def announce(app: web.Application, outcome: Outcome) -> None:
    """After a commit: refresh the poll cache, wake the outbox relay, and record a new
    attempt for the workers (in the background: NATS may be down, the outbox is not)."""
    cache: JobCache = app[CACHE]
    cache.put(outcome.record.job, outcome.record.client_id)
    app[RELAY].wake()
    job = outcome.record.job
    if job.status == JobStatus.failed:
        # The projection never sees the gateway's own failure events: count them here.
        job_ended(outcome.record, app[SETTINGS].generation_backend, job.failed_stage)
    if outcome.attempt is not None:
        bus: Bus = app[BUS]
        task = asyncio.create_task(record_attempt(bus, outcome.record.job.id, outcome.attempt))
        _RECORDING.add(task)
        task.add_done_callback(_RECORDING.discard)


def announcer(app: web.Application) -> Callable[[Outcome], None]:
    return functools.partial(announce, app)
