"""Exports: a finished video re-framed for another platform's aspect ratio, then made
deliverable like a render (`rendering.finish_output`: signed, then checked against the
platform of its aspect, the source's layout moved with the picture)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

from services.renderer import engine
from services.renderer.credentials import Credentials
from services.renderer.keys import export_key, export_qc_key, layout_key
from services.renderer.qc.text import reframed_layout
from services.renderer.rendering import cancel_marker, finish_output, read_layout
from shared.creative.platforms import platform_for_size, platform_spec
from shared.events import ExportRequested
from shared.models import ASPECT_SIZE, VideoOutput
from shared.storage import LocalStorage

# Sizes are rounded to even pixels: an aspect this close is the same one.
ASPECT_TOLERANCE = 0.01


def export_platform(source_platform: str | None, size: tuple[int, int]) -> str:
    """The platform an export is checked for: the render's own when it has the export's
    aspect (a 9:16 export of a Reels ad is still for Reels), else the one of that aspect."""
    if source_platform is not None:
        width, height = platform_spec(source_platform).size
        if abs(width / height - size[0] / size[1]) <= ASPECT_TOLERANCE:
            return source_platform
    return platform_for_size(size)


class Exporter:
    def __init__(
        self, storage: LocalStorage, divisor: int, credentials: Credentials | None = None
    ) -> None:
        self.storage = storage
        self.divisor = divisor
        # Content Credentials (C2PA) signed into every file; None: files go out unsigned.
        self.credentials = credentials or Credentials(None)

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

        size = self.size(request.aspect)
        info = await asyncio.to_thread(
            engine.reframe,
            self.storage.path(source.key),
            size,
            target,
            None,
            progress,
            cancel_marker(job_id),
        )
        source_layout = read_layout(self.storage.path(layout_key(job_id, source.variation)))
        platform = export_platform(
            source_layout.get("platform") if source_layout is not None else None, size
        )
        finished = await finish_output(
            self.storage,
            self.credentials,
            key,
            self.credentials.export_provenance(
                self.storage.path(source.key), request.aspect, source.variation
            ),
            platform,
            reframed_layout(source_layout, size, platform) if source_layout is not None else None,
            lambda n: export_qc_key(job_id, request.aspect, source.variation, request.export_id, n),
            "export",
            functools.partial(report, 1.0),
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
            size_bytes=finished.size_bytes,
            credentials=finished.credentials,
            qc=finished.qc,
        )


async def _coroutine(awaitable: Awaitable[None]) -> None:
    """`run_coroutine_threadsafe` takes a coroutine; a report callback is any awaitable."""
    await awaitable
