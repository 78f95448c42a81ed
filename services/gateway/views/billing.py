"""The gateway's side of billing: estimates, reserving a stage's money before paid work
starts (over the hard daily limit the work is held, or refused with 429 when the caller
asks `?on_budget=reject`), the spend summary, and today's limits (read and set by admins)."""

from __future__ import annotations

from aiohttp import web

from services.gateway.appkeys import BUS, RESUMER, SETTINGS
from services.gateway.clients.billing import (
    BillingError,
    BillingUnavailable,
    Estimate,
    billing_summary,
    budget_limits,
    request_quote,
    set_limits,
)
from services.gateway.contract import examples
from services.gateway.contract.operations import ERROR, operation
from services.gateway.http.bodies import model_response, read_body
from services.gateway.http.errors import ApiError, BudgetExhausted, Forbidden, Unavailable
from services.gateway.http.middlewares import principal_of
from services.gateway.http.queries import (
    BudgetQuery,
    EstimateQuery,
    LimitsQuery,
    SummaryQuery,
    read_query,
)
from services.gateway.jobs.lifecycle import Stage
from services.gateway.jobs.pauses import pause_for
from services.gateway.jobs.reservations import Terms
from services.gateway.jobs.reservations import reserve as reserve_stage
from shared.billing import Limits, LimitsUpdate, Quote, Summary
from shared.events import utc_now
from shared.models import GenerationRequest, Pause


def _backend(request: web.Request) -> str:
    return request.app[SETTINGS].generation_backend


async def reserve(
    request: web.Request, job_id: str, client_id: str, terms: Terms
) -> tuple[Estimate, Pause | None]:
    """Reserve the stage's money with billing: the estimate it priced (the job's whole
    estimate; one scene's for a refinement), and the pause to hold the stage with when
    the hard daily limit is reached (None when it may start). 429 instead of a pause when
    the caller asks `?on_budget=reject`; 503 when billing cannot be reached."""
    on_budget = read_query(request, BudgetQuery).on_budget
    try:
        reservation = await reserve_stage(
            request.app[BUS], _backend(request), job_id, client_id, terms
        )
    except BillingUnavailable as exc:
        raise Unavailable(f"billing is unavailable, paid work cannot start: {exc}") from None
    except BillingError as exc:
        raise ApiError(f"billing refused the request: {exc.message}", {"code": exc.code}) from None
    if reservation.accepted:
        return reservation.estimate, None
    if on_budget == "reject":
        raise BudgetExhausted(
            "the daily budget is exhausted; new paid work resumes after UTC midnight",
            reservation.budget.model_dump(mode="json") if reservation.budget else None,
            headers={"Retry-After": str(reservation.retry_after_s or 60)},
        )
    return reservation.estimate, pause_for(Stage(terms.stage), reservation.budget, utc_now())


@operation(
    summary="Estimate a brief's cost, with line items and today's budget state",
    tags=("billing",),
    request=GenerationRequest,
    request_example=examples.BRIEF,
    query=EstimateQuery,
    responses={200: Quote, 400: ERROR, 503: ERROR},
    description="Nothing is reserved or created. The `local` backend is free ($0).",
)
async def estimate(request: web.Request) -> web.Response:
    """`POST /estimate`: the quote for a brief, with line items and the budget state.
    `?backend=replicate` prices it on real models even when this deployment runs local."""
    generation = await read_body(request, GenerationRequest)
    backend = read_query(request, EstimateQuery).backend or _backend(request)
    try:
        quote = await request_quote(
            request.app[BUS], generation, principal_of(request).client_id, backend
        )
    except BillingUnavailable as exc:
        raise Unavailable(f"billing is unavailable: {exc}") from None
    except BillingError as exc:
        raise ApiError(f"billing could not price the brief: {exc.message}") from None
    return model_response(quote)


@operation(
    summary="Spend by client, model and day",
    tags=("billing",),
    query=SummaryQuery,
    responses={200: Summary, 400: ERROR, 503: ERROR},
    description="A client sees its own spend; an admin sees every client's and the global budget.",
)
async def summary(request: web.Request) -> web.Response:
    """`GET /billing/summary?day=YYYY-MM-DD`: own spend; an admin sees every client."""
    principal = principal_of(request)
    day = read_query(request, SummaryQuery).day
    client_id = None if principal.is_admin else principal.client_id
    try:
        spend = await billing_summary(request.app[BUS], client_id, day)
    except BillingUnavailable as exc:
        raise Unavailable(f"billing is unavailable: {exc}") from None
    return model_response(spend)


def _require_admin(request: web.Request) -> str:
    principal = principal_of(request)
    if not principal.is_admin:
        raise Forbidden("only an admin reads or sets the daily budget's limits")
    return principal.client_id


@operation(
    summary="Today's budget: spend, limits and who changed them (admins)",
    tags=("billing",),
    query=LimitsQuery,
    responses={200: Limits, 400: ERROR, 403: ERROR, 503: ERROR},
    description="The global daily budget as billing counts it (spent today plus what running "
    "jobs have reserved), today's soft and hard limits (the configured ones, or an admin's "
    "override for today), and the audit trail of limit changes. 403 for a client token.",
)
async def get_budget(request: web.Request) -> web.Response:
    _require_admin(request)
    days = read_query(request, LimitsQuery).days
    try:
        limits = await budget_limits(request.app[BUS], days)
    except BillingUnavailable as exc:
        raise Unavailable(f"billing is unavailable: {exc}") from None
    return model_response(limits)


@operation(
    summary="Set today's daily limits (admins; audited)",
    tags=("billing",),
    request=LimitsUpdate,
    request_example={
        "hard_limit_usd": 250,
        "soft_limit_usd": 200,
        "reason": "Launch day: the spring campaign renders today",
    },
    responses={200: Limits, 403: ERROR, 503: ERROR},
    description="Sets the hard (and optionally soft) limit for the current UTC day only; the "
    "next day starts from the configured `DAILY_BUDGET_*_USD` again. Every change is "
    "recorded with who, when, old and new limits and the reason (`changes`). Jobs paused "
    "for the budget are retried at once, oldest first. 403 for a client token; 422 naming "
    "the field for a limit that is not a positive number, a soft limit above the hard one, "
    "or a missing reason.",
)
async def set_budget(request: web.Request) -> web.Response:
    admin = _require_admin(request)
    update = await read_body(request, LimitsUpdate)
    try:
        limits = await set_limits(request.app[BUS], update, admin)
    except BillingUnavailable as exc:
        raise Unavailable(f"billing is unavailable: {exc}") from None
    except BillingError as exc:
        raise ApiError(f"billing refused the change: {exc.message}", {"code": exc.code}) from None
    # This replica looks at its paused jobs now; billing's announcement wakes the others.
    request.app[RESUMER].wake()
    return model_response(limits)
