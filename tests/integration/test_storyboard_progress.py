"""How often the storyboard worker reports progress: a storyboard drawn within half a
second goes from `queued` to `storyboard_ready` with no progress event (each would cost a
publish, a transaction at the gateway and a message to every follower, for a state nobody
could see); one of model pictures, seconds per frame, says it is being drawn."""

from __future__ import annotations

import json
from pathlib import Path

from shared.events import StoryboardCompleted, StoryboardProgressed
from tests.integration.test_replicate_pipeline import replicate_system, submit
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import started_fake
from tests.support.streams import stream_messages
from tests.support.system import System


async def progress_and_completions(nats_url: str, job_id: str) -> tuple[list[str], int]:
    """The job's progress messages and how many completions JetStream holds."""
    stored = await stream_messages(nats_url, "JOBS")
    mine = [m for m in stored if job_id.encode() in m.data]
    progress = [json.loads(m.data) for m in mine if m.subject == StoryboardProgressed.subject]
    completed = [m for m in mine if m.subject == StoryboardCompleted.subject]
    return [p["data"]["progress"]["message"] for p in progress], len(completed)


async def test_a_quick_storyboard_completes_without_progress_events(system: System) -> None:
    # A brief of several scenes, drawn locally at small size: milliseconds per frame.
    job = await system.create_job(duration_s=20)
    job = await system.wait_status(job["id"], "storyboard_ready")
    assert len(job["storyboard"]["scenes"]) >= 3

    # JetStream holds the completion and no progress event for the job.
    progress, completed = await progress_and_completions(system.settings.nats_url, job["id"])
    assert progress == [] and completed == 1
    assert job["progress"]["percent"] == 100


async def test_a_storyboard_of_model_pictures_reports_its_progress(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # The image model takes 2 s x 0.4 = 0.8 s a picture: past the half second.
    async with (
        started_fake(latency_scale=0.4) as fake,
        replicate_system(nats_server, tmp_path, fake) as system,
    ):
        job = await submit(system)
        job = await system.wait_status(job["id"], "storyboard_ready", timeout_s=60)
        scenes = len(job["storyboard"]["scenes"])

        # At least one scene, never the last, was reported before the completion.
        progress, completed = await progress_and_completions(nats_server.url, job["id"])
        assert completed == 1 and progress
        assert all(p.startswith("scene ") and p.endswith(f" of {scenes} drawn") for p in progress)
        assert f"scene {scenes} of {scenes} drawn" not in progress
        assert job["progress"]["percent"] == 100
