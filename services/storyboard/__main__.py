"""Storyboard service: brief → scenes with script, caption, visual prompt and a frame."""

from __future__ import annotations

import asyncio

from services.storyboard.generation import StoryboardMaker
from services.storyboard.handlers import StoryboardHandlers
from shared.attempts import attempt_check
from shared.bus import ConsumerSpec
from shared.events import JobCanceled, SceneRefineRequested, StoryboardRequested
from shared.pricing import DEFAULT_PRICING_FILE, PricingSource
from shared.providers import open_backend
from shared.service import run_service, worker_runtime
from shared.settings import Settings
from shared.storage import LocalStorage


def consumer_spec(settings: Settings) -> ConsumerSpec:
    return ConsumerSpec(
        durable="storyboard",
        stream="JOBS",
        subjects=(StoryboardRequested.subject, SceneRefineRequested.subject),
        ack_wait_s=settings.consumer_ack_wait_s,
        max_deliver=settings.consumer_max_deliver,
    )


def pricing(settings: Settings) -> PricingSource:
    """The shared pricing table: which model plays each role, and what it costs."""
    return PricingSource(settings.pricing_file or DEFAULT_PRICING_FILE)


async def serve(
    settings: Settings, stop: asyncio.Event | None = None, handle_signals: bool = True
) -> None:
    async with worker_runtime(settings, stop, handle_signals) as runtime:
        backend = await open_backend(settings, runtime.bus, pricing(settings).table)
        try:
            storage = LocalStorage(settings.video_storage_path)
            maker = StoryboardMaker(
                backend, storage, settings.scene_concurrency, settings.frame_scale_divisor
            )
            handlers = StoryboardHandlers(runtime.bus, storage, maker)
            await runtime.bus.subscribe_broadcast(JobCanceled, handlers.on_job_canceled)
            await runtime.bus.consume(
                consumer_spec(settings),
                {
                    StoryboardRequested: handlers.on_storyboard_requested,
                    SceneRefineRequested: handlers.on_scene_refine_requested,
                },
                runtime.stop,
                concurrency=settings.storyboard_concurrency,
                superseded=attempt_check(runtime.bus),
            )
        finally:
            await backend.close()


if __name__ == "__main__":
    run_service(serve, "storyboard")
