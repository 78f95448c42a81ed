"""Renders survive a killed replica and stop when canceled, leaving nothing half-written."""

from __future__ import annotations

from pathlib import Path

import av

from tests.support.nats_server import NatsServer
from tests.support.processes import ServiceProcess
from tests.support.system import System, running_system
from tests.support.waiting import eventually


def _clips(storage: Path, job_id: str) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (storage / "videos" / job_id).glob("clips/*.mp4")}


async def test_cancel_during_render_stops_it(system: System) -> None:
    # A long render (60 s, larger frames) is under way.
    await system.stop_workers()
    system.start_storyboard_worker()
    system.start_renderer_worker(render_scale_divisor=3)
    job = await system.approved_job(duration_s=60)
    await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    await eventually(
        lambda: system.job(job["id"]), lambda j: j["progress"]["percent"] > 0, timeout_s=60
    )

    # The client cancels; the renderer stops and no final video is ever written.
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/cancel")
    assert status == 200 and body["status"] == "canceled"
    await system.drained("renderer", "gateway")
    storage = Path(system.settings.video_storage_path)
    videos = storage / "videos" / job["id"]
    assert not (videos / "final.mp4").exists()
    clips = list(videos.glob("clips/*.mp4"))
    assert len(clips) < len(job["storyboard"]["scenes"])
    leftovers = [p for p in videos.rglob("*") if p.is_file() and p.suffix != ".mp4"]
    assert leftovers == []
    assert (await system.job(job["id"]))["status"] == "canceled"


async def test_killed_replica_hands_its_job_to_the_other(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # Gateway and storyboard in-process; two renderer replicas as real processes, with a
    # short ack wait so a dead replica's job is redelivered quickly.
    async with running_system(nats_server.url, tmp_path, renderer_workers=0) as system:
        env = {"RENDER_SCALE_DIVISOR": "3", "CONSUMER_ACK_WAIT_S": "3"}
        replicas = [
            ServiceProcess("renderer", system.settings, tmp_path / f"renderer-{n}.log", **env)
            for n in (1, 2)
        ]
        for replica in replicas:
            replica.start()
        try:
            await system.drained("renderer")
            job = await system.approved_job(duration_s=30)
            scenes = len(job["storyboard"]["scenes"])
            await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
            storage = Path(system.settings.video_storage_path)

            # One replica starts the job and checkpoints at least one clip; it is killed.
            await eventually(lambda: _count(storage, job["id"]), lambda n: n >= 1, timeout_s=90)
            busy = next(r for r in replicas if job["id"] in r.log())
            busy.kill()
            made_before = _clips(storage, job["id"])
            assert 1 <= len(made_before) < scenes

            # The other replica finishes it, reusing the clips already made.
            job = await system.wait_status(job["id"], "completed", timeout_s=180)
            idle = next(r for r in replicas if r is not busy)
            assert job["id"] in idle.log()
            after = _clips(storage, job["id"])
            assert len(after) == scenes
            assert all(after[path] == stamp for path, stamp in made_before.items())
            with av.open(str(storage / "videos" / job["id"] / "final.mp4")) as container:
                assert abs(float(container.duration) / av.time_base - 30) <= 0.2
        finally:
            for replica in replicas:
                replica.stop()


async def _count(storage: Path, job_id: str) -> int:
    return len(_clips(storage, job_id))
