"""Renderer service: approved storyboard → clips → final.mp4 per variation; exports."""

from __future__ import annotations

import asyncio

from services.renderer.exports import Exporter
from services.renderer.handlers import RendererHandlers
from services.renderer.pool import clip_pool
from services.renderer.rendering import Renderer
from shared.bus import ConsumerSpec
from shared.events import ExportRequested, JobCanceled, RenderRequested
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
    pool = clip_pool(settings.render_workers)
    try:
        async with worker_runtime(settings, stop, handle_signals) as runtime:
            storage = LocalStorage(settings.video_storage_path)
            renderer = Renderer(storage, pool, settings.render_scale_divisor)
            exporter = Exporter(storage, settings.render_scale_divisor)
            handlers = RendererHandlers(runtime.bus, storage, renderer, exporter)
            await runtime.bus.subscribe_broadcast(JobCanceled, handlers.on_job_canceled)
            # One job at a time per replica: its clips already use every core.
            await runtime.bus.consume(
                consumer_spec(settings),
                {
                    RenderRequested: handlers.on_render_requested,
                    ExportRequested: handlers.on_export_requested,
                },
                runtime.stop,
                concurrency=1,
            )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


if __name__ == "__main__":
    run_service(serve, "renderer")
