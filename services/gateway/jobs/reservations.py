"""Reserving a paid stage's money with billing before the stage starts, one way for the
views (create, refine, render, retry) and the resume loop of paused jobs: what a stage
commits (`Terms`, built from the job, or from the request a paused job holds, so a resume
reserves exactly what the command asked for) and billing's answer (`Reservation`).

The same terms always carry the same commit id, so asking again (a resume after a crash,
two gateway replicas resuming one job) reserves once.

Example::

    terms = render_terms(record.request, record.job.storyboard)
    reservation = await reserve(bus, settings.generation_backend, job_id, client_id, terms)
    if not reservation.accepted:  # the hard daily limit: hold the render
        ...
"""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.clients.billing import Estimate, commit_job
from shared.billing import BudgetState, CommitStage
from shared.bus import Bus
from shared.events import Payload, RenderRequested, SceneRefineRequested, StoryboardRequested
from shared.models import CostItem, GenerationRequest, Storyboard

FREE_BACKEND = "local"


@dataclass(frozen=True)
class Terms:
    """What a stage reserves: its stage, the brief, the scene lengths billing prices, and
    the commit id (None: billing's default `{job_id}:{stage}`)."""

    stage: CommitStage
    request: GenerationRequest
    scene_durations_s: list[float] | None = None
    commit_id: str | None = None


def storyboard_terms(request: GenerationRequest) -> Terms:
    return Terms("storyboard", request)


def render_terms(request: GenerationRequest, storyboard: Storyboard | None) -> Terms:
    """The render, priced with the storyboard's own scene lengths."""
    durations = [scene.duration_s for scene in storyboard.scenes] if storyboard else None
    return Terms("render", request, durations)


def refine_terms(
    job_id: str, request: GenerationRequest, storyboard: Storyboard, index: int
) -> Terms:
    """One scene's refinement: priced for that scene, and reserved once per revision of it
    (a job is refined many times; each refinement is its own reservation)."""
    scene = next(scene for scene in storyboard.scenes if scene.index == index)
    commit_id = f"{job_id}:refine:{index}:{scene.revision}"
    return Terms("refine", request, [scene.duration_s], commit_id)


def terms_of(job_id: str, payload: Payload) -> Terms:
    """The terms of the stage a held request starts."""
    match payload:
        case StoryboardRequested(request=request):
            return storyboard_terms(request)
        case SceneRefineRequested(request=request, storyboard=storyboard, scene_index=index):
            return refine_terms(job_id, request, storyboard, index)
        case RenderRequested(request=request, storyboard=storyboard):
            return render_terms(request, storyboard)
    raise ValueError(f"{payload.subject} starts no paid stage")


@dataclass(frozen=True)
class Reservation:
    """Billing's answer: whether the stage may start, the estimate it priced (the job's,
    or one scene's for a refinement) and today's budget."""

    accepted: bool
    estimate: Estimate
    budget: BudgetState | None = None
    retry_after_s: int | None = None


async def reserve(bus: Bus, backend: str, job_id: str, client_id: str, terms: Terms) -> Reservation:
    """Reserve the stage's money. Free work needs no billing, so a local job is accepted
    even while NATS is down. Raises `BillingUnavailable` / `BillingError`."""
    if backend == FREE_BACKEND:
        return Reservation(accepted=True, estimate=Estimate(total_usd=0.0, items=[]))
    reply = await commit_job(
        bus,
        job_id=job_id,
        client_id=client_id,
        stage=terms.stage,
        request=terms.request,
        backend=backend,
        scene_durations_s=terms.scene_durations_s,
        commit_id=terms.commit_id,
    )
    items = [CostItem.model_validate(item, from_attributes=True) for item in reply.quote.line_items]
    return Reservation(
        accepted=reply.accepted,
        estimate=Estimate(total_usd=float(reply.quote.estimated_cost), items=items),
        budget=reply.budget,
        retry_after_s=reply.retry_after_s,
    )
