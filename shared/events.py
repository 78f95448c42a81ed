"""The event envelope and every payload on the bus.

Example::

    event = StoryboardRequested.envelope(job_id="j1", client_id="c1", data=payload)
    await bus.publish(event)          # subject comes from the payload class
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

from pydantic import BaseModel, Field

from shared.checks.findings import PreflightReport
from shared.models import Aspect, GenerationRequest, Progress, Scene, Storyboard, VideoOutput

PAYLOADS: dict[str, type[Payload]] = {}


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def derived_id(*parts: str) -> str:
    """An id that is the same every time for the same parts, so a redelivered
    message produces the same follow-up event and JetStream de-duplicates it."""
    return uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)).hex


class Payload(BaseModel):
    """Base of every event payload; `subject` ties the model to its NATS subject.

    Defining a subclass registers it in `PAYLOADS`, so any module of `shared/` can add
    events (billing's live in `shared/billing.py`) and consumers parse them by subject.
    """

    subject: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "subject" in cls.__dict__:
            PAYLOADS[cls.subject] = cls

    def envelope(
        self,
        *,
        job_id: str,
        client_id: str,
        attempt: int = 1,
        event_id: str | None = None,
    ) -> Event[Self]:
        # Parametrised by the concrete payload class so it serialises the subclass's fields.
        envelope_type = cast("type[Event[Self]]", event_type(type(self)))
        return envelope_type(
            id=event_id or new_id(),
            type=self.subject,
            job_id=job_id,
            client_id=client_id,
            attempt=attempt,
            data=self,
        )


P = TypeVar("P", bound=Payload)


class Event(BaseModel, Generic[P]):
    """The envelope of every message (docs/architecture.md, NATS); `id` doubles as the
    `Nats-Msg-Id`."""

    id: str = Field(default_factory=new_id)
    type: str
    job_id: str
    client_id: str
    occurred_at: datetime = Field(default_factory=utc_now)
    attempt: int = 1
    data: P

    @property
    def subject(self) -> str:
        return self.type


# Pydantic keeps its parametrised models in a weak cache, and a model class is garbage as
# soon as no event holds it: the next `Event[...]` rebuilt it, schema and all (~0.6 ms, a
# sixth of the gateway's CPU a job in bench/pipeline.py). Made once per payload instead.
_EVENT_TYPES: dict[type[Payload], type[Event[Any]]] = {}


def event_type(payload_type: type[P]) -> type[Event[P]]:
    """`Event[payload_type]`, built once per process."""
    made = _EVENT_TYPES.get(payload_type)
    if made is None:
        made = _EVENT_TYPES[payload_type] = Event[payload_type]  # type: ignore[valid-type]
    return made


class JobCreated(Payload):
    subject = "jobs.created"
    request: GenerationRequest


class StoryboardRequested(Payload):
    subject = "jobs.storyboard.requested"
    request: GenerationRequest


class SceneRefineRequested(Payload):
    subject = "jobs.scene.refine_requested"
    request: GenerationRequest
    storyboard: Storyboard
    scene_index: int
    feedback: str


class StoryboardProgressed(Payload):
    subject = "jobs.storyboard.progress"
    progress: Progress


class StoryboardCompleted(Payload):
    subject = "jobs.storyboard.completed"
    storyboard: Storyboard
    refined_scene: int | None = None
    preflight: PreflightReport | None = Field(
        default=None,
        description="The storyboard's preflight, made by the worker that drew it (its "
        "layouts are already measured there); a gateway preflights a storyboard that "
        "arrives without one.",
    )


class StoryboardFailed(Payload):
    subject = "jobs.storyboard.failed"
    error_message: str
    refined_scene: int | None = None


class StoryboardEdited(Payload):
    subject = "jobs.storyboard.edited"
    storyboard: Storyboard


class JobApproved(Payload):
    subject = "jobs.approved"
    storyboard: Storyboard


class JobCanceled(Payload):
    subject = "jobs.canceled"
    reason: str = "canceled by client"


class RenderRequested(Payload):
    subject = "jobs.render.requested"
    request: GenerationRequest
    storyboard: Storyboard


class ExportRequested(Payload):
    subject = "jobs.export.requested"
    export_id: str
    aspect: Aspect
    source: VideoOutput


class RenderProgressed(Payload):
    subject = "jobs.render.progress"
    progress: Progress
    export_id: str | None = None


class RenderCompleted(Payload):
    subject = "jobs.render.completed"
    outputs: list[VideoOutput]
    export_id: str | None = None


class RenderFailed(Payload):
    subject = "jobs.render.failed"
    error_message: str
    export_id: str | None = None


class DeadLettered(BaseModel):
    """What lands on `deadletter.<service>`: the original message and why it was parked."""

    service: str
    subject: str
    reason: str
    deliveries: int
    headers: dict[str, str] = Field(default_factory=dict)
    data: str
    occurred_at: datetime = Field(default_factory=utc_now)


def parse_event(subject: str, raw: bytes | str) -> Event[Any]:
    """Validate a message body against the payload model registered for `subject`."""
    payload_type = PAYLOADS[subject]
    return event_type(payload_type).model_validate_json(raw)


__all__ = [
    "PAYLOADS",
    "DeadLettered",
    "Event",
    "ExportRequested",
    "JobApproved",
    "JobCanceled",
    "JobCreated",
    "Payload",
    "RenderCompleted",
    "RenderFailed",
    "RenderProgressed",
    "RenderRequested",
    "Scene",
    "SceneRefineRequested",
    "StoryboardCompleted",
    "StoryboardEdited",
    "StoryboardFailed",
    "StoryboardProgressed",
    "StoryboardRequested",
    "derived_id",
    "event_type",
    "new_id",
    "parse_event",
    "utc_now",
]
