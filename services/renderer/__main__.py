"""Renderer service: approved storyboard → clips → final.mp4 per variation; exports."""

from __future__ import annotations

import asyncio

from services.renderer.credentials import Credentials
from services.renderer.exports import Exporter
from services.renderer.handlers import RendererHandlers
from services.renderer.pool import clip_pool
from services.renderer.rendering import Renderer
from shared.attempts import attempt_check
from shared.bus import Bus, ConsumerSpec
from shared.events import ExportRequested, JobCanceled, RenderRequested
from shared.pricing import DEFAULT_PRICING_FILE, PricingSource
from shared.providers import FootageBackend, open_replicate
from shared.service import run_service, worker_runtime
from shared.settings import Settings
from shared.storage import LocalStorage


def consumer_spec(settings: Settings) -> ConsumerSpec:
    return ConsumerSpec(
        durable="renderer",
        stream="JOBS",
        subjects=(RenderRequested.subject, ExportRequested.subject),
        ack_wait_s=settings.consumer_ack_wait_s,
        max_deliver=settings.consumer_max_deliver,
        # Replicas times one job each must fit, or extra replicas sit idle (KEDA scales this).
        max_ack_pending=256,
    )


async def serve(
    settings: Settings, stop: asyncio.Event | None = None, handle_signals: bool = True
) -> None:
    # Before anything starts: a named but unusable signing chain stops the renderer here.
    credentials = Credentials.from_settings(settings)
    pool = clip_pool(settings.render_workers)
    try:
        async with worker_runtime(settings, stop, handle_signals) as runtime:
            footage = await footage_backend(settings, runtime.bus)
            try:
                storage = LocalStorage(settings.video_storage_path)
                renderer = Renderer(
                    storage, pool, settings.render_scale_divisor, footage, credentials
                )
                exporter = Exporter(storage, settings.render_scale_divisor, credentials)
                handlers = RendererHandlers(runtime.bus, storage, renderer, exporter)
                await runtime.bus.subscribe_broadcast(JobCanceled, handlers.on_job_canceled)
                await runtime.bus.consume(
                    consumer_spec(settings),
                    {
                        RenderRequested: handlers.on_render_requested,
                        ExportRequested: handlers.on_export_requested,
                    },
                    runtime.stop,
                    concurrency=render_concurrency(settings),
                    superseded=attempt_check(runtime.bus),
                )
            finally:
                if footage is not None:
                    await footage.close()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


async def footage_backend(settings: Settings, bus: Bus) -> FootageBackend | None:
    """Scene clips from real models with GENERATION_BACKEND=replicate; else None (the
    engine animates the frames itself)."""
    if settings.generation_backend != "replicate":
        return None
    pricing = PricingSource(settings.pricing_file or DEFAULT_PRICING_FILE)
    return await open_replicate(settings, bus, pricing.table)


def render_concurrency(settings: Settings) -> int:
    """One local render at a time per replica (its clips already use every core); with
    model-made clips a render mostly waits on the provider, so a replica takes several."""
    if settings.render_concurrency is not None:
        return settings.render_concurrency
    return 1 if settings.generation_backend == "local" else 4


if __name__ == "__main__":
    run_service(serve, "renderer")
