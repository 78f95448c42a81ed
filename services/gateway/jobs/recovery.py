"""A client's retry of a failed job: the failed stage starts again as the job's next
attempt, with the stage's original request, in one transaction (the request goes out
through the outbox), or waits paused when the daily budget cannot take it."""

from __future__ import annotations

from services.gateway.http.errors import Conflict
from services.gateway.jobs import lifecycle
from services.gateway.jobs.commands import refusal
from services.gateway.jobs.lifecycle import Stage, stage_label
from services.gateway.jobs.stages import Outcome, stage_request, start_again
from services.gateway.jobs.store import JobRecord, claim_attempt, load
from shared.db import Database
from shared.models import Pause


def check_retryable(record: JobRecord) -> Stage:
    """The stage to restart; 409 when the job is not failed or cannot be restarted."""
    try:
        return lifecycle.retry_stage(record.job)
    except lifecycle.Refused as refused:
        raise refusal(refused, record) from None


async def restart_failed(db: Database, job_id: str, pause: Pause | None = None) -> Outcome:
    """Start the failed stage again (hold it, given `pause`); 409 when the job changed
    meanwhile (e.g. a concurrent retry won)."""
    async with db.transaction() as tx:
        record = await load(tx, job_id)
        stage = check_retryable(record)
        request = await stage_request(tx, record, stage)
        if request is None:
            raise Conflict(f"the job's {stage_label(stage)} request is no longer known")
        attempt = await claim_attempt(tx, record)
        if attempt is None:
            raise Conflict("the job changed while it was being retried; look at it again")
        message = f"retrying the {stage_label(stage)} (attempt {attempt})"
        updated = await start_again(tx, record, request, attempt, message, pause)
    return Outcome(updated, attempt)
