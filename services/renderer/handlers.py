"""Event handlers of the renderer: render requests, export requests, cancels."""

from __future__ import annotations

from pydantic import BaseModel

from services.renderer.exports import Exporter
from services.renderer.keys import manifest_key
from services.renderer.metrics import observe_render_stage
from services.renderer.rendering import Renderer, cancel_marker
from shared.bus import Bus, TransientError
from shared.cancel import CancelScope, JobWasCanceled
from shared.events import (
    Event,
    ExportRequested,
    JobCanceled,
    RenderCompleted,
    RenderFailed,
    RenderProgressed,
    RenderRequested,
)
from shared.logging import get_logger
from shared.models import Progress, VideoOutput
from shared.storage import LocalStorage

log = get_logger(__name__)


class Manifest(BaseModel):
    request_event_id: str
    outputs: list[VideoOutput]


class RendererHandlers:
    def __init__(
        self, bus: Bus, storage: LocalStorage, renderer: Renderer, exporter: Exporter
    ) -> None:
        self.bus = bus
        self.storage = storage
        self.renderer = renderer
        self.exporter = exporter
        self.jobs = CancelScope()

    async def on_render_requested(self, event: Event[RenderRequested]) -> None:
        if finished := await self._finished(event):
            log.info("render.redelivered", extra={"videos": len(finished)})
            await self.bus.publish_follow_up(event, RenderCompleted(outputs=finished))
            return
        log.info("render.started", extra={"variations": event.data.request.variations})
        reported = {"step": 0}

        async def report(percent: float, message: str) -> None:
            reported["step"] += 1
            progress = Progress(stage="rendering", percent=round(percent, 1), message=message)
            await self.bus.publish_follow_up(
                event, RenderProgressed(progress=progress), str(reported["step"])
            )

        data = event.data
        work = self.renderer.render(
            event.job_id, event.client_id, data.request, data.storyboard, report, event.attempt
        )
        try:
            outputs = await self.jobs.run(event.job_id, work)
        except JobWasCanceled:
            log.info("render.canceled")
            return
        except TransientError:
            raise
        except Exception as exc:
            log.exception("render.failed")
            await self.bus.publish_follow_up(
                event, RenderFailed(error_message=_reason("render", exc))
            )
            return
        observe_render_stage(event, "local" if self.renderer.footage is None else "replicate")
        manifest = Manifest(request_event_id=event.id, outputs=outputs)
        await self.storage.put(manifest_key(event.job_id), manifest.model_dump_json().encode())
        await self.bus.publish_follow_up(event, RenderCompleted(outputs=outputs))
        log.info("render.completed", extra={"videos": len(outputs)})

    async def on_export_requested(self, event: Event[ExportRequested]) -> None:
        data = event.data

        async def report(fraction: float) -> None:
            progress = Progress(
                stage="exporting",
                percent=round(100 * fraction, 1),
                message=f"exporting {data.aspect}",
            )
            step = str(round(fraction * 100))
            await self.bus.publish_follow_up(
                event, RenderProgressed(progress=progress, export_id=data.export_id), step
            )

        try:
            output = await self.jobs.run(
                event.job_id, self.exporter.export(event.job_id, data, report)
            )
        except JobWasCanceled:
            return
        except TransientError:
            raise
        except Exception as exc:
            log.exception("export.failed")
            failed = RenderFailed(error_message=_reason("export", exc), export_id=data.export_id)
            await self.bus.publish_follow_up(event, failed)
            return
        await self.bus.publish_follow_up(
            event, RenderCompleted(outputs=[output], export_id=data.export_id)
        )

    async def on_job_canceled(self, event: Event[JobCanceled]) -> None:
        """Stop this replica's work on the job (every replica hears cancels)."""
        if self.jobs.is_running(event.job_id):
            cancel_marker(event.job_id).parent.mkdir(parents=True, exist_ok=True)
            cancel_marker(event.job_id).touch()
            self.jobs.cancel(event.job_id)
        if self.renderer.footage is not None:
            # Paid predictions of the job stop upstream too (not on a shutdown: then
            # another replica re-attaches to them).
            await self.renderer.footage.backend.cancel_job(event.job_id)

    async def _finished(self, event: Event[RenderRequested]) -> list[VideoOutput] | None:
        key = manifest_key(event.job_id)
        if not await self.storage.exists(key):
            return None
        manifest = Manifest.model_validate_json(await self.storage.read(key))
        return manifest.outputs if manifest.request_event_id == event.id else None


def _reason(stage: str, exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{stage} failed: {text[:300]}"
