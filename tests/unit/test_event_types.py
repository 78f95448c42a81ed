"""Each payload's envelope model is built once per process and kept.

Pydantic caches `Event[X]` only weakly: once no event held the class, a garbage collection
removed it and the next envelope rebuilt the whole model (a sixth of the gateway's CPU a
job in bench/pipeline.py)."""

from __future__ import annotations

import gc
import weakref

from shared.events import Event, JobCreated, StoryboardProgressed, event_type, parse_event
from shared.models import GenerationRequest, Platform, Progress

REQUEST = GenerationRequest(
    campaign_id="spring",
    prompt="A reusable steel water bottle that keeps drinks cold",
    platform=Platform.tiktok,
    duration_s=10,
)


def test_an_envelope_model_outlives_its_events() -> None:
    event = JobCreated(request=REQUEST).envelope(job_id="j1", client_id="c1")
    model = weakref.ref(type(event))
    del event
    gc.collect()
    assert model() is not None
    again = JobCreated(request=REQUEST).envelope(job_id="j2", client_id="c1")
    assert type(again) is model()


def test_parsed_and_built_events_share_one_model_per_payload() -> None:
    progressed = StoryboardProgressed(progress=Progress(stage="storyboarding", percent=50))
    event = progressed.envelope(job_id="j1", client_id="c1", attempt=2)
    gc.collect()
    parsed = parse_event(StoryboardProgressed.subject, event.model_dump_json())
    assert type(parsed) is type(event) is event_type(StoryboardProgressed)
    assert issubclass(event_type(StoryboardProgressed), Event)
    assert parsed == event
    assert parsed.data.progress.percent == 50
