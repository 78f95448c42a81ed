"""Paid work the daily budget cannot take, held and started later.

A command (create, refine, render) or a client's retry builds the request that starts its
stage. When billing takes the stage, `launch` moves the job to the status the stage runs
in and queues the request. When billing refuses it for the hard limit, `hold` writes
everything the command would have written, except that the job goes `paused` with the
reason, and the request is kept (`paused_jobs`) instead of queued. `resume` later launches
exactly that request, so a resumed stage starts as the command would have started it.
Each runs inside the caller's transaction; a webhook (`paused`, `resumed`) is queued with
the change.

Example::

    start = StageStart(StoryboardRequested(request=brief), lifecycle.queued_progress())
    if pause is None:
        await launch(tx, record, start)
    else:
        record = await hold(tx, record, start, pause)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.gateway.jobs.lifecycle import (
    RESUMED,
    RESUMES,
    Stage,
    pause_message,
    paused_progress,
    resumed_status,
)
from services.gateway.jobs.stage_requests import StageStart
from services.gateway.jobs.store import JobRecord, enqueue, move
from services.gateway.jobs.store import pause as pause_job
from services.gateway.webhooks.queue import load_notifying
from shared.billing import BudgetState
from shared.db import Transaction
from shared.events import Event, new_id
from shared.models import BudgetSnapshot, JobStatus, Pause


def pause_for(stage: Stage, budget: BudgetState | None, now: datetime) -> Pause:
    """The pause of `stage` over the hard daily limit, with billing's budget as it is."""
    snapshot = None
    if budget is not None:
        snapshot = BudgetSnapshot(
            day=budget.day,
            spent_today_usd=budget.spent_today_usd,
            committed_usd=budget.committed_usd,
            hard_limit_usd=budget.hard_limit_usd,
            resets_at=budget.resets_at,
        )
    return Pause.model_validate(
        {
            "reason": "daily_budget_exhausted",
            "stage": stage.value,
            "since": now,
            "message": pause_message(stage),
            "resumes": RESUMES,
            "budget": snapshot,
        }
    )


async def launch(
    tx: Transaction,
    record: JobRecord,
    start: StageStart,
    attempt: int | None = None,
    **columns: Any,
) -> Event[Any]:
    """Start the stage: the job moves to the status it runs in, with `columns`, and its
    request is queued (as `attempt`, default the job's)."""
    await move(tx, record, resumed_status(start.stage), start.progress, **columns)
    event = start.payload.envelope(
        job_id=record.job.id, client_id=record.client_id, attempt=attempt or record.attempt
    )
    await enqueue(tx, event)
    return event


async def hold(
    tx: Transaction, record: JobRecord, start: StageStart, pause: Pause, **columns: Any
) -> JobRecord:
    """Pause the job before the stage: `columns` as the command writes them, the pause,
    and the stage's start kept for `resume`."""
    await pause_job(tx, record, paused_progress(start.stage), pause, start, **columns)
    return await load_notifying(tx, record.job.id, f"paused-{new_id()}")


async def resume(tx: Transaction, record: JobRecord, **columns: Any) -> JobRecord:
    """Start the stage a paused job holds (billing has taken it), as its command would
    have; `columns` go with the start (the reserved estimate)."""
    if record.job.status != JobStatus.paused or record.held is None:
        raise ValueError(f"job {record.job.id} holds no stage ({record.job.status})")
    event = await launch(tx, record, record.held, **columns)
    return await load_notifying(tx, record.job.id, event.id, kind=RESUMED)
