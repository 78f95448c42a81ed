"""Event handlers of the storyboard service: one async function per subject."""

from __future__ import annotations

from pydantic import BaseModel

from services.storyboard.generation import StoryboardMaker
from services.storyboard.keys import manifest_key
from services.storyboard.progress import ProgressPacer
from shared.bus import Bus, TransientError
from shared.cancel import CancelScope, JobWasCanceled
from shared.checks.preflight import preflighted
from shared.events import (
    Event,
    JobCanceled,
    SceneRefineRequested,
    StoryboardCompleted,
    StoryboardFailed,
    StoryboardProgressed,
    StoryboardRequested,
)
from shared.logging import get_logger
from shared.models import GenerationRequest, Progress, Scene, Storyboard
from shared.storage import LocalStorage
from shared.tracing import span

log = get_logger(__name__)


class Manifest(BaseModel):
    request_event_id: str
    storyboard: Storyboard


class StoryboardHandlers:
    def __init__(self, bus: Bus, storage: LocalStorage, maker: StoryboardMaker) -> None:
        self.bus = bus
        self.storage = storage
        self.maker = maker
        self.jobs = CancelScope()

    async def on_storyboard_requested(self, event: Event[StoryboardRequested]) -> None:
        if finished := await self._finished(event):
            log.info("storyboard.redelivered", extra={"scenes": len(finished.scenes)})
            await self.bus.publish_follow_up(event, completed(event.data.request, finished))
            return

        pacer = ProgressPacer()

        async def on_scene(scene: Scene, done: int, total: int) -> None:
            if not pacer.due(done, total):
                return
            progress = Progress(
                stage="storyboarding",
                percent=round(100 * done / total, 1),
                message=f"scene {done} of {total} drawn",
            )
            await self.bus.publish_follow_up(
                event, StoryboardProgressed(progress=progress), f"p{done}"
            )

        request = event.data.request
        try:
            work = self.maker.make(event.job_id, event.client_id, request, on_scene, event.attempt)
            storyboard = await self.jobs.run(event.job_id, work)
        except JobWasCanceled:
            log.info("storyboard.canceled")
            return
        except TransientError:
            raise
        except Exception as exc:
            log.exception("storyboard.failed")
            await self.bus.publish_follow_up(event, StoryboardFailed(error_message=_reason(exc)))
            return
        manifest = Manifest(request_event_id=event.id, storyboard=storyboard)
        with span("storyboard.save"):
            await self.storage.put(manifest_key(event.job_id), manifest.model_dump_json().encode())
        await self.bus.publish_follow_up(event, completed(request, storyboard))
        log.info("storyboard.completed", extra={"scenes": len(storyboard.scenes)})

    async def on_scene_refine_requested(self, event: Event[SceneRefineRequested]) -> None:
        data = event.data
        if not any(s.index == data.scene_index for s in data.storyboard.scenes):
            failed = StoryboardFailed(
                error_message=f"scene {data.scene_index} does not exist",
                refined_scene=data.scene_index,
            )
            await self.bus.publish_follow_up(event, failed)
            return
        try:
            work = self.maker.refine(
                event.job_id,
                event.client_id,
                data.request,
                data.storyboard,
                data.scene_index,
                data.feedback,
                event.attempt,
            )
            storyboard = await self.jobs.run(event.job_id, work)
        except JobWasCanceled:
            return
        except TransientError:
            raise
        except Exception as exc:
            log.exception("storyboard.refine_failed")
            failed = StoryboardFailed(error_message=_reason(exc), refined_scene=data.scene_index)
            await self.bus.publish_follow_up(event, failed)
            return
        done = completed(data.request, storyboard, refined_scene=data.scene_index)
        await self.bus.publish_follow_up(event, done)
        log.info("storyboard.scene_refined", extra={"scene": data.scene_index})

    async def on_job_canceled(self, event: Event[JobCanceled]) -> None:
        """Stop this replica's work on the job (every replica hears cancels, see __main__),
        and its paid predictions upstream."""
        self.jobs.cancel(event.job_id)
        await self.maker.backend.cancel_job(event.job_id)

    async def _finished(self, event: Event[StoryboardRequested]) -> Storyboard | None:
        key = manifest_key(event.job_id)
        if not await self.storage.exists(key):
            return None
        manifest = Manifest.model_validate_json(await self.storage.read(key))
        return manifest.storyboard if manifest.request_event_id == event.id else None


def completed(
    request: GenerationRequest, storyboard: Storyboard, refined_scene: int | None = None
) -> StoryboardCompleted:
    """The storyboard with its preflight: checked here, where the planner has laid its
    headlines out already (`readable_headlines`); the gateway would measure them again."""
    with span("storyboard.preflight"):
        report = preflighted(request, storyboard)
    return StoryboardCompleted(storyboard=storyboard, refined_scene=refined_scene, preflight=report)


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"storyboard generation failed: {text[:300]}"
