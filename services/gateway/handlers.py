"""The gateway's event handlers: worker events projected onto the job row and cache."""

from __future__ import annotations

from services.gateway.cache import JobCache
from services.gateway.jobs import JobRecord, JobStore
from shared.events import Event, StoryboardCompleted, StoryboardFailed, StoryboardProgressed


class ProjectionHandlers:
    def __init__(self, store: JobStore, cache: JobCache) -> None:
        self.store = store
        self.cache = cache

    def _refresh(self, record: JobRecord | None) -> None:
        if record is not None:
            self.cache.put(record.job, record.client_id)

    async def on_storyboard_progressed(self, event: Event[StoryboardProgressed]) -> None:
        self._refresh(await self.store.on_storyboard_progressed(event))

    async def on_storyboard_completed(self, event: Event[StoryboardCompleted]) -> None:
        self._refresh(await self.store.on_storyboard_completed(event))

    async def on_storyboard_failed(self, event: Event[StoryboardFailed]) -> None:
        self._refresh(await self.store.on_storyboard_failed(event))
