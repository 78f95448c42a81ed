"""The gateway's client of the billing service (request/reply on core NATS).

Example::

    estimate = await request_quote(bus, request, client_id, settings.generation_backend)
    reply = await commit_job(bus, job_id=j, client_id=c, stage="storyboard",
                             request=request, backend=settings.generation_backend)
    if not reply.accepted:   # over the hard limit: pause the job (or 429 when asked)
        ...
    limits = await set_limits(bus, LimitsUpdate(hard_limit_usd=50, reason="launch day"), "ops")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar, cast

import nats.errors
from pydantic import BaseModel, RootModel, ValidationError

from shared.billing import (
    CommitReply,
    CommitRequest,
    CommitStage,
    ErrorReply,
    Limits,
    LimitsChangeRequest,
    LimitsRequest,
    LimitsUpdate,
    Quote,
    QuoteRequest,
    Summary,
    SummaryRequest,
)
from shared.bus import Bus
from shared.models import CostItem, GenerationRequest

QUOTE = "billing.quote"
COMMIT = "billing.commit"
SUMMARY = "billing.summary"
LIMITS = "billing.limits.get"
SET_LIMITS = "billing.limits.set"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Estimate:
    """A job's estimate as the gateway keeps it: the total and its line items."""

    total_usd: float
    items: list[CostItem]


class BillingUnavailable(Exception):
    """Billing did not answer (not running, or too slow): paid work must not start."""


class BillingError(Exception):
    """Billing answered with an error (`code` e.g. invalid_request, unpriced)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


async def request_quote(
    bus: Bus,
    request: GenerationRequest,
    client_id: str,
    backend: str,
    scene_durations_s: Sequence[float] | None = None,
    timeout_s: float = 5.0,
) -> Quote:
    """The estimate with line items and today's budget state (`POST /estimate`)."""
    body = QuoteRequest(
        request=request,
        client_id=client_id,
        backend=backend,
        scene_durations_s=list(scene_durations_s) if scene_durations_s else None,
    )
    return await _ask(bus, QUOTE, body, Quote, timeout_s)


async def commit_job(
    bus: Bus,
    *,
    job_id: str,
    client_id: str,
    stage: CommitStage,
    request: GenerationRequest,
    backend: str,
    scene_durations_s: Sequence[float] | None = None,
    commit_id: str | None = None,
    timeout_s: float = 5.0,
) -> CommitReply:
    """Reserve the stage's estimate before starting paid work: `stage="storyboard"` in
    `POST /jobs`, `stage="render"` in `POST /render` (with the storyboard's scene
    lengths), `stage="refine"` for a scene's refinement (its one length, and a
    `commit_id` naming the scene's revision). Safe to retry: the same `commit_id`
    (default `{job_id}:{stage}`) reserves once. `accepted=False`: the hard daily limit
    is reached (`retry_after_s` to UTC midnight)."""
    body = CommitRequest(
        job_id=job_id,
        client_id=client_id,
        stage=stage,
        backend=backend,
        request=request,
        scene_durations_s=list(scene_durations_s) if scene_durations_s else None,
        commit_id=commit_id,
    )
    return await _ask(bus, COMMIT, body, CommitReply, timeout_s)


async def billing_summary(
    bus: Bus,
    client_id: str | None,
    day: date | None = None,
    days: int = 30,
    timeout_s: float = 5.0,
) -> Summary:
    """Spend by client, model and day; `client_id=None` is every client (admins only)."""
    body = SummaryRequest(client_id=client_id, day=day, days=days)
    return await _ask(bus, SUMMARY, body, Summary, timeout_s)


async def budget_limits(bus: Bus, days: int = 7, timeout_s: float = 5.0) -> Limits:
    """Today's budget, its limits (configured or an admin's) and the recent changes."""
    return await _ask(bus, LIMITS, LimitsRequest(days=days), Limits, timeout_s)


async def set_limits(
    bus: Bus, update: LimitsUpdate, changed_by: str, timeout_s: float = 5.0
) -> Limits:
    """Set today's limits (admins only: the caller checks), audited by billing."""
    body = LimitsChangeRequest(**update.model_dump(), changed_by=changed_by)
    return await _ask(bus, SET_LIMITS, body, Limits, timeout_s)


async def _ask(bus: Bus, subject: str, body: BaseModel, reply_type: type[M], timeout_s: float) -> M:
    # Billing answers either the reply model or an ErrorReply; one union parses both.
    answer_type = RootModel[reply_type | ErrorReply]  # type: ignore[valid-type]
    try:
        answer = await bus.request(subject, body, answer_type, timeout_s=timeout_s)
    except nats.errors.NoRespondersError as exc:
        raise BillingUnavailable(f"no billing service answers {subject}") from exc
    except (nats.errors.TimeoutError, TimeoutError) as exc:
        raise BillingUnavailable(f"billing did not answer {subject} in {timeout_s:g} s") from exc
    except ValidationError as exc:
        raise BillingError("invalid_reply", f"billing's answer to {subject}: {exc}") from exc
    value = answer.root  # type: ignore[attr-defined]
    if isinstance(value, ErrorReply):
        raise BillingError(value.error.code, value.error.message)
    return cast(M, value)
