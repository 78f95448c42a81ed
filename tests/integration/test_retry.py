"""Failure reporting and `POST /jobs/{id}/retry`: a failed job says where and why it
failed and whether it can be retried; a retry runs the failed stage again, reusing what
was already made; anything but a failed job is 409, another client's job 404."""

from __future__ import annotations

from pathlib import Path

from services.gateway.appkeys import REAPER
from tests.integration.test_storyboard_failures import png, stored, uploaded
from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system
from tests.support.waiting import eventually


def clips(storage: Path, job_id: str) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (storage / "videos" / job_id).glob("clips/*.mp4")}


async def test_failed_render_is_retried_reusing_its_clips(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # A render stage that makes no progress for 3 s is failed at once (no automatic retry).
    async with running_system(
        nats_server.url, tmp_path, renderer_workers=0, stuck_job_timeout_s=3.0, max_job_retries=0
    ) as system:
        # Clips large enough (540x960) that the render is still running when the worker
        # stops after the first one, and cannot finish within the 1 s grace.
        renderer = {"render_scale_divisor": 2, "shutdown_grace_s": 1.0}
        system.start_renderer_worker(**renderer)
        job = await system.approved_job(duration_s=15)
        scenes = len(job["storyboard"]["scenes"])
        await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
        storage = Path(system.settings.video_storage_path)

        # The renderer stops in the middle of the render, after at least one clip.
        await eventually(
            lambda: _count(storage, job["id"]), lambda n: n >= 1, timeout_s=60, interval_s=0.01
        )
        await system.stop_workers()
        made_before = clips(storage, job["id"])

        # Nothing answers; the job fails in its render stage and says so.
        failed = await system.wait_status(job["id"], "failed", timeout_s=20)
        assert failed["failed_stage"] == "render" and failed["retryable"] is True
        assert failed["error_message"] == "the render stalled: no progress for 3 s"

        # A renderer is back (and, on this busy test machine, may take longer than 3 s
        # between clips: the reaper is given all the time it needs from here on).
        system.app[REAPER].timeout_s = 600.0
        system.start_renderer_worker(**renderer)
        status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/retry")
        assert status == 202, body
        assert body["status"] == "rendering" and body["retry_count"] == 1
        assert body["error_message"] is None and body["failed_stage"] is None
        assert body["retryable"] is False

        # It completes from the render stage: the storyboard is the one approved, and the
        # clips made before the failure were reused, not encoded again.
        done = await system.wait_status(job["id"], "completed", timeout_s=120)
        assert done["storyboard"] == failed["storyboard"]
        after = clips(storage, job["id"])
        assert len(after) == scenes
        assert all(after[path] == stamp for path, stamp in made_before.items())
        assert (storage / "videos" / job["id"] / "final.mp4").exists()


async def test_failed_storyboard_is_retried_once_its_cause_is_fixed(system: System) -> None:
    # The product image is damaged in storage, so the storyboard fails.
    asset = await uploaded(system, png((0, 128, 255)))
    good = stored(system, asset).read_bytes()
    stored(system, asset).write_bytes(b"this is not a png any more")
    job = await system.create_job(assets=[asset["asset_id"]])
    failed = await system.wait_status(job["id"], "failed")

    # The job says which stage failed, why (one line, no traceback) and that it can retry.
    assert failed["failed_stage"] == "storyboard" and failed["retryable"] is True
    assert failed["error_message"].startswith("storyboard generation failed:")
    assert "\n" not in failed["error_message"] and "Traceback" not in failed["error_message"]

    # The image is repaired; the retry makes the storyboard from the same brief.
    stored(system, asset).write_bytes(good)
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/retry")
    assert status == 202 and body["status"] == "queued", body
    ready = await system.wait_status(job["id"], "storyboard_ready")
    assert ready["retry_count"] == 1 and ready["error_message"] is None
    assert ready["storyboard"]["scenes"]

    # Retrying again is refused: the job is no longer failed.
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/retry")
    assert status == 409 and body["error"]["code"] == "conflict"
    assert body["error"]["details"] == {"status": "storyboard_ready"}


async def test_only_the_owner_can_retry_and_only_a_failed_job(system: System) -> None:
    job = await system.create_job()

    # Another client does not see the job at all; an unknown id is the same 404.
    for client, job_id in (("client-b", job["id"]), ("client-a", "0" * 32)):
        status, body, _ = await system.call(
            "POST", f"/api/v2/jobs/{job_id}/retry", client_id=client
        )
        assert status == 404 and body["error"]["code"] == "not_found"

    # A canceled job is not failed: 409, and nothing changes.
    await system.call("POST", f"/api/v2/jobs/{job['id']}/cancel")
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/retry")
    assert status == 409 and "only a failed job" in body["error"]["message"]
    after = await system.job(job["id"])
    assert after["status"] == "canceled" and after["retry_count"] == 0


async def _count(storage: Path, job_id: str) -> int:
    return len(clips(storage, job_id))
