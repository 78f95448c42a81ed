"""Fault 1: a renderer replica is SIGKILLed mid-render; the other one finishes the job.

`tests/integration/test_render_reliability.py` checks the hand-over with an in-process
gateway. Here every service is a process and the test also proves that no clip is ever
encoded twice (not even by an orphaned encoder of the dead replica), that the replica's
encoder processes die with it, and measures the time to recover.
"""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import av
import pytest

from tests.support.file_versions import FileVersions
from tests.support.measurements import record_measurement
from tests.support.rss import children
from tests.support.stack import Stack
from tests.support.streams import stream_messages
from tests.support.waiting import eventually


@pytest.mark.timeout(180)
async def test_killed_renderer_replica_hands_over_without_remaking_clips(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    # Gateway and storyboard, plus two renderer replicas drawing larger clips (so a render
    # lasts long enough to be interrupted) with a short ack wait.
    stack.add("gateway")
    stack.add("storyboard")
    replicas = stack.add("renderer", replicas=2, RENDER_SCALE_DIVISOR="3", CONSUMER_ACK_WAIT_S="3")
    stack.start()
    await stack.ready()
    api = stack.api(http)

    # A 30 s job is approved and its render requested.
    job = await api.create_job(duration_s=30)
    await api.run_to_render(job["id"])
    scenes = len((await api.job(job["id"]))["storyboard"]["scenes"])
    clips = FileVersions(stack.storage / "videos" / job["id"], "clips/*.mp4")

    async with clips.watching():
        # One replica checkpoints its first clip; it is killed there, encoders and all.
        await eventually(clips.counted, lambda n: n >= 1, timeout_s=90)
        busy = next(r for r in replicas if job["id"] in r.log())
        assert busy.proc is not None
        encoders = children(busy.proc.pid)
        made_before_kill = clips.count()
        killed_at = time.monotonic()
        busy.kill()

        # The dead replica's encoders stop with it: none finishes a clip behind its back.
        await eventually(
            lambda: _alive(encoders), lambda alive: alive == [], timeout_s=10, interval_s=0.1
        )

        # The other replica takes the job over and completes it.
        done = await api.wait_status(job["id"], "completed", timeout_s=150)
        recovered_s = time.monotonic() - killed_at

    # Every clip exists once and was written once: the clips made before the kill were
    # reused, the rest encoded by the survivor alone.
    idle = next(r for r in replicas if r is not busy)
    assert job["id"] in idle.log()
    assert clips.count() == scenes
    assert clips.rewritten() == []
    final = stack.storage / "videos" / job["id"] / "final.mp4"
    with av.open(str(final)) as container:
        assert abs(float(container.duration) / av.time_base - 30) <= 0.2
    # The job was completed once, announced once.
    completed = [
        m
        for m in await stream_messages(stack.nats_url, "JOBS")
        if m.subject == "jobs.render.completed" and job["id"].encode() in m.data
    ]
    assert len(completed) == 1
    assert done["error_message"] is None

    record_measurement(
        "renderer_failover",
        fault="SIGKILL of the renderer replica holding a 30 s render (2 replicas)",
        jobs=1,
        completed=1,
        failed=0,
        stuck=0,
        scenes=scenes,
        clips_made_before_kill=made_before_kill,
        clips_rewritten=len(clips.rewritten()),
        duplicate_completions=len(completed) - 1,
        killed_encoders=len(encoders),
        time_to_recover_s=round(recovered_s, 2),
        ack_wait_s=3,
    )


async def _alive(pids: list[int]) -> list[int]:
    return _alive_now(pids)


def _alive_now(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)]


def _zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
    except OSError:
        return True
