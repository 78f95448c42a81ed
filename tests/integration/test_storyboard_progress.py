"""How often the storyboard worker reports progress: a storyboard drawn in milliseconds
says it is being drawn once (after its first scene), then that it is done; each extra
progress event would cost a publish and a transaction at the gateway for nothing."""

from __future__ import annotations

import json

from shared.events import StoryboardCompleted, StoryboardProgressed
from tests.support.streams import stream_messages
from tests.support.system import System


async def test_a_quick_storyboard_reports_one_scene_then_completes(system: System) -> None:
    # A brief of several scenes, drawn locally at small size: milliseconds per frame.
    job = await system.create_job(duration_s=20)
    job = await system.wait_status(job["id"], "storyboard_ready")
    scenes = len(job["storyboard"]["scenes"])
    assert scenes >= 3

    # JetStream holds one progress event for the job, the first scene's, and the completion.
    stored = await stream_messages(system.settings.nats_url, "JOBS")
    mine = [m for m in stored if job["id"].encode() in m.data]
    progress = [json.loads(m.data) for m in mine if m.subject == StoryboardProgressed.subject]
    completed = [m for m in mine if m.subject == StoryboardCompleted.subject]
    assert [p["data"]["progress"]["message"] for p in progress] == [f"scene 1 of {scenes} drawn"]
    assert len(completed) == 1

    # The job still went through `storyboarding` to 100%.
    assert job["progress"]["percent"] == 100
