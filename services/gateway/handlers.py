"""The gateway's event handlers: worker events projected onto the job row and cache."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.gateway.jobs.cache import JobCache
from services.gateway.jobs.projection import Projection
from services.gateway.jobs.store import JobRecord
from services.gateway.metrics import JobObserver
from shared.billing import JobCostUpdated
from shared.bus import Handler
from shared.events import (
    Event,
    Payload,
    RenderCompleted,
    RenderFailed,
    RenderProgressed,
    StoryboardCompleted,
    StoryboardFailed,
    StoryboardProgressed,
)

Apply = Callable[[Event[Any]], Awaitable[JobRecord | None]]


def projection_handlers(
    projection: Projection, cache: JobCache, backend: str = "local"
) -> dict[type[Payload], Handler]:
    """One handler per subject: project the event, then refresh the poll cache and count
    what the event did (`backend` labels the job metrics)."""
    observe = JobObserver(backend)

    def refreshing(apply: Apply) -> Handler:
        async def handle(event: Event[Any]) -> None:
            record = await apply(event)
            if record is not None:
                cache.put(record.job, record.client_id)
                observe(event, record)

        return handle

    return {
        StoryboardProgressed: refreshing(projection.storyboard_progressed),
        StoryboardCompleted: refreshing(projection.storyboard_completed),
        StoryboardFailed: refreshing(projection.storyboard_failed),
        RenderProgressed: refreshing(projection.render_progressed),
        RenderCompleted: refreshing(projection.render_completed),
        RenderFailed: refreshing(projection.render_failed),
    }


def billing_handlers(projection: Projection, cache: JobCache) -> dict[type[Payload], Handler]:
    async def handle(event: Event[Any]) -> None:
        record = await projection.cost_updated(event)
        if record is not None:
            cache.put(record.job, record.client_id)

    return {JobCostUpdated: handle}
