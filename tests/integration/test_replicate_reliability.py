"""A renderer replica killed while its clips are being made by the model: the replacement
re-attaches to the same predictions, so the provider makes (and bills) each clip once."""

from __future__ import annotations

from pathlib import Path

import av

from services.billing.__main__ import serve as serve_billing
from tests.integration.test_replicate_pipeline import CLIPS, VOICE, submit
from tests.support.nats_server import NatsServer
from tests.support.processes import ServiceProcess
from tests.support.replicate_backend import (
    creates_by_model,
    duplicated_creates,
    replicate_env,
    replicate_settings,
    started_fake,
)
from tests.support.system import running_system
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate


async def _clips_followed(fake: FakeReplicate) -> int:
    """Clip predictions created and polled at least once (a replica follows them)."""
    return sum(1 for r in fake.predictions.values() if r.model == CLIPS and r.get_count > 0)


async def test_a_killed_renderer_is_replaced_without_a_second_prediction(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # Clips take about 3 s at this latency scale: long enough to die in the middle.
    async with (
        started_fake(latency_scale=0.05) as fake,
        running_system(
            nats_server.url, tmp_path, renderer_workers=0, **replicate_settings(fake)
        ) as system,
    ):
        system._start(serve_billing, "billing", {"database_path": tmp_path / "billing.db"})
        env = {
            **replicate_env(fake),
            "RENDER_SCALE_DIVISOR": "10",
            "CONSUMER_ACK_WAIT_S": "2",
        }
        replicas = [
            ServiceProcess("renderer", system.settings, tmp_path / f"renderer-{n}.log", **env)
            for n in (1, 2)
        ]
        for replica in replicas:
            replica.start()
        try:
            await system.drained("renderer")
            job = await submit(system)
            ready = await system.wait_status(job["id"], "storyboard_ready", timeout_s=60)
            scenes = len(ready["storyboard"]["scenes"])
            await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")
            status, _, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
            assert status == 202

            # One replica has created every clip's prediction and follows them: it dies.
            await eventually(lambda: _clips_followed(fake), lambda n: n == scenes, timeout_s=60)
            busy = next(r for r in replicas if job["id"] in r.log())
            busy.kill()
            assert not all(r.terminal for r in fake.predictions.values() if r.model == CLIPS)

            # The other replica takes the job over and finishes it on the same predictions.
            job = await system.wait_status(job["id"], "completed", timeout_s=90)
            idle = next(r for r in replicas if r is not busy)
            assert "replicate.prediction_reattached" in idle.log()
            counts = creates_by_model(fake)
            assert (counts[CLIPS], counts[VOICE]) == (scenes, 1)
            assert duplicated_creates(fake) == []
            final = Path(system.settings.video_storage_path) / "videos" / job["id"] / "final.mp4"
            with av.open(str(final)) as container:
                assert abs(float(container.duration) / av.time_base - 15) <= 0.2
        finally:
            for replica in replicas:
                replica.stop()
