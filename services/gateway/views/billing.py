"""The gateway's side of billing: estimates, reserving a stage's money before paid work
starts (refused with 429 when the daily budget is exhausted), the spend summary."""

from __future__ import annotations

from aiohttp import web

from services.gateway.appkeys import BUS, SETTINGS
from services.gateway.clients.billing import (
    BillingError,
    BillingUnavailable,
    Estimate,
    billing_summary,
    commit_job,
    request_quote,
)
from services.gateway.contract import examples
from services.gateway.contract.operations import ERROR, operation
from services.gateway.http.bodies import model_response, read_body
from services.gateway.http.errors import ApiError, BudgetExhausted, Unavailable
from services.gateway.http.middlewares import principal_of
from services.gateway.http.queries import EstimateQuery, SummaryQuery, read_query
from shared.billing import CommitStage, Quote, Summary
from shared.models import CostItem, GenerationRequest, Storyboard

FREE_BACKEND = "local"


def _backend(request: web.Request) -> str:
    return request.app[SETTINGS].generation_backend


async def reserve(
    request: web.Request,
    job_id: str,
    client_id: str,
    stage: CommitStage,
    generation: GenerationRequest,
    storyboard: Storyboard | None = None,
) -> Estimate:
    """Reserve the stage's money with billing; returns the job's whole estimate. Free work
    needs no billing, so a local job is accepted even while NATS is down."""
    backend = _backend(request)
    if backend == FREE_BACKEND:
        return Estimate(total_usd=0.0, items=[])
    durations = [scene.duration_s for scene in storyboard.scenes] if storyboard else None
    try:
        reply = await commit_job(
            request.app[BUS],
            job_id=job_id,
            client_id=client_id,
            stage=stage,
            request=generation,
            backend=backend,
            scene_durations_s=durations,
        )
    except BillingUnavailable as exc:
        raise Unavailable(f"billing is unavailable, paid work cannot start: {exc}") from None
    except BillingError as exc:
        raise ApiError(f"billing refused the request: {exc.message}", {"code": exc.code}) from None
    if not reply.accepted:
        retry_after = str(reply.retry_after_s or 60)
        raise BudgetExhausted(
            "the daily budget is exhausted; new paid work resumes after UTC midnight",
            reply.budget.model_dump(mode="json"),
            headers={"Retry-After": retry_after},
        )
    items = [CostItem.model_validate(item, from_attributes=True) for item in reply.quote.line_items]
    return Estimate(total_usd=float(reply.quote.estimated_cost), items=items)


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
