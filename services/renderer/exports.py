"""Exports: a finished video re-framed for another platform's aspect ratio."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from services.renderer import engine
from services.renderer.keys import export_key
from services.renderer.rendering import cancel_marker
from shared.events import ExportRequested
from shared.models import ASPECT_SIZE, VideoOutput
from shared.storage import LocalStorage


class Exporter:
    def __init__(self, storage: LocalStorage, divisor: int) -> None:
        self.storage = storage
        self.divisor = divisor

    def size(self, aspect: str) -> tuple[int, int]:
        width, height = ASPECT_SIZE[aspect]
        return max(16, width // self.divisor // 2 * 2), max(16, height // self.divisor // 2 * 2)

    async def export(
        self,
        job_id: str,
        request: ExportRequested,
        report: Callable[[float], Awaitable[None]],
    ) -> VideoOutput:
        loop = asyncio.get_running_loop()
        source = request.source
        key = export_key(job_id, request.aspect, source.variation, request.export_id)
        target = self.storage.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)

        def progress(fraction: float) -> None:
            asyncio.run_coroutine_threadsafe(_coroutine(report(fraction)), loop)

        info = await asyncio.to_thread(
            engine.reframe,
            self.storage.path(source.key),
            self.size(request.aspect),
            target,
            None,
            progress,
            cancel_marker(job_id),
        )
        return VideoOutput(
            kind="export",
            variation=source.variation,
            aspect=request.aspect,
            key=key,
            url=self.storage.url(key),
            duration_s=round(info.duration_s, 3),
            width=info.width,
            height=info.height,
            size_bytes=info.size_bytes,
        )


async def _coroutine(awaitable: Awaitable[None]) -> None:
    """`run_coroutine_threadsafe` takes a coroutine; a report callback is any awaitable."""
    await awaitable
