"""Dead letters end the stage they belonged to: a job whose request (or whose worker's
answer) was set aside on `deadletter.<service>` is marked failed with a clear reason,
instead of waiting for the reaper's timeout, or forever.

Consumes `deadletter.>` (durable `gateway-deadletters`). A dead letter about an older
attempt than the job's, or about a stage that is no longer running, changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from nats.aio.msg import Msg
from pydantic import ValidationError

from services.gateway.jobs.lifecycle import (
    Stage,
    export_stage,
    is_export,
    running_stage,
    runs,
    stage_label,
)
from services.gateway.jobs.stage_requests import load_request
from services.gateway.jobs.stages import Outcome, give_up, stage_request
from services.gateway.jobs.store import JobRecord, claim_attempt, find
from shared.bus import MSG_ID, ConsumerSpec
from shared.db import Database, Transaction
from shared.events import DeadLettered
from shared.logging import get_logger, log_context
from shared.settings import Settings

log = get_logger(__name__)

CONSUMER = "gateway-deadletters"
# Subjects whose dead letter leaves a stage waiting: the requests workers could not
# handle, and the workers' answers the gateway could not record.
STORYBOARD_SUBJECTS = frozenset(
    {
        "jobs.storyboard.requested",
        "jobs.scene.refine_requested",
        "jobs.storyboard.progress",
        "jobs.storyboard.completed",
        "jobs.storyboard.failed",
    }
)
RENDER_SUBJECTS = frozenset(
    {
        "jobs.render.requested",
        "jobs.export.requested",
        "jobs.render.progress",
        "jobs.render.completed",
        "jobs.render.failed",
    }
)


def dead_letter_spec(settings: Settings) -> ConsumerSpec:
    return ConsumerSpec(
        durable=CONSUMER,
        stream="DEADLETTER",
        subjects=("deadletter.>",),
        ack_wait_s=settings.consumer_ack_wait_s,
        max_deliver=settings.consumer_max_deliver,
    )


def why(parked: DeadLettered) -> str:
    """The dead letter's reason, for a client: what kind of failure, never the exception's
    text (which may quote anything)."""
    if parked.reason.startswith("invalid event"):
        return "its message was malformed"
    if parked.reason.startswith("no handler"):
        return "no service handles its message"
    if parked.reason.startswith("failed "):
        return f"its message failed {parked.deliveries} times in a row"
    return "its message was refused as unprocessable"


def stage_of(parked: DeadLettered, message: dict[str, Any], record: JobRecord) -> str | None:
    """The running stage of `record` the dead letter belongs to, if any."""
    data = message.get("data")
    export_id = data.get("export_id") if isinstance(data, dict) else None
    status = record.job.status
    if parked.subject in RENDER_SUBJECTS:
        if isinstance(export_id, str) and runs(status, Stage.export):
            return export_stage(export_id)
        return Stage.render if runs(status, Stage.render) else None
    if parked.subject in STORYBOARD_SUBJECTS:
        stage = running_stage(status)
        return stage if stage in (Stage.storyboard, Stage.refine) else None
    return None


class DeadLetters:
    def __init__(self, db: Database, on_change: Callable[[Outcome], None]) -> None:
        self.db = db
        self.on_change = on_change

    async def handle(self, msg: Msg) -> None:
        try:
            parked = DeadLettered.model_validate_json(msg.data)
            message = orjson.loads(parked.data)
        except (ValidationError, orjson.JSONDecodeError):
            log.warning("deadletter.unreadable", extra={"subject": msg.subject})
            return
        job_id = message.get("job_id") if isinstance(message, dict) else None
        if not isinstance(job_id, str):
            return  # not about a job (e.g. a billing message): nothing waits on it
        with log_context(job_id=job_id):
            dedup = (msg.headers or {}).get(MSG_ID) or f"seq:{msg.metadata.sequence.stream}"
            outcome = await self.fail(job_id, parked, message, dedup)
        if outcome is not None:
            self.on_change(outcome)

    async def fail(
        self, job_id: str, parked: DeadLettered, message: dict[str, Any], dedup: str
    ) -> Outcome | None:
        async with self.db.transaction() as tx:
            if not await tx.claim_event(CONSUMER, dedup):
                return None
            record = await find(tx, job_id)
            if record is None:
                return None
            attempt = message.get("attempt", 1)
            if not isinstance(attempt, int) or attempt < record.attempt:
                return None  # about an attempt the job has moved past
            stage = stage_of(parked, message, record)
            if stage is None:
                return None
            return await self._give_up(tx, record, stage, parked)

    async def _give_up(
        self, tx: Transaction, record: JobRecord, stage: str, parked: DeadLettered
    ) -> Outcome | None:
        reason = f"the {stage_label(stage)} could not be completed: {why(parked)}"
        if is_export(stage):
            request = await load_request(tx, record.job.id, stage)
            if request is None:
                return None
            updated = await give_up(tx, record, stage, request, record.attempt, reason)
            attempt = None
        else:
            request = await stage_request(tx, record, stage)
            claimed = await claim_attempt(tx, record)
            if claimed is None:
                return None
            updated = await give_up(tx, record, stage, request, claimed, reason)
            attempt = claimed
        log.warning(
            "job.dead_lettered",
            extra={"stage": stage, "subject": parked.subject, "service": parked.service},
        )
        return Outcome(updated, attempt)
