"""Graceful shutdown of a worker process: on SIGTERM it stops taking work, finishes what
it holds or hands it back (nak) to another replica at once, drains and exits within
SHUTDOWN_GRACE_S. Renderers run here as real processes."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import datetime
from pathlib import Path

import aiohttp

from tests.support.nats_server import NatsServer
from tests.support.processes import ServiceProcess
from tests.support.system import System, running_system
from tests.support.waiting import eventually


def stopping_at(replica: ServiceProcess) -> float:
    """When the replica's signal handler ran, by its own log (epoch seconds)."""
    line = next(ln for ln in replica.log().splitlines() if '"service.stopping"' in ln)
    return datetime.fromisoformat(json.loads(line)["ts"]).timestamp()


def exit_of(replica: ServiceProcess, timeout_s: float) -> tuple[int, float]:
    """Wait (in a thread, so a busy test loop does not delay it) for the process to end:
    its exit code and the moment it ended."""
    assert replica.proc is not None
    code = replica.proc.wait(timeout=timeout_s)
    return code, time.monotonic()


async def clip_count(storage: Path, job_id: str) -> int:
    return len(list((storage / "videos" / job_id).glob("clips/*.mp4")))


async def readiness(replica: ServiceProcess) -> int:
    """The replica's /readyz status (0 once it no longer answers)."""
    url = f"http://127.0.0.1:{replica.metrics_port}/readyz"
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as answer:
            return answer.status
    except aiohttp.ClientError:
        return 0


def renderers(system: System, tmp_path: Path, count: int, **env: str) -> list[ServiceProcess]:
    return [
        ServiceProcess("renderer", system.settings, tmp_path / f"renderer-{n}.log", **env)
        for n in range(1, count + 1)
    ]


async def test_sigterm_hands_in_flight_work_to_another_replica(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # Two renderer processes with a 2 s grace; a message nobody acks would only come back
    # after the 30 s ack wait, so a quick handover proves the nak.
    grace_s = 2.0
    async with running_system(nats_server.url, tmp_path, renderer_workers=0) as system:
        replicas = renderers(
            system,
            tmp_path,
            2,
            RENDER_SCALE_DIVISOR="5",
            CONSUMER_ACK_WAIT_S="30",
            SHUTDOWN_GRACE_S=str(grace_s),
        )
        for replica in replicas:
            replica.start()
        try:
            await system.drained("renderer")
            job = await system.approved_job(duration_s=30)
            await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
            storage = Path(system.settings.video_storage_path)

            # The replica rendering the job gets SIGTERM after its first clip.
            await eventually(lambda: clip_count(storage, job["id"]), lambda n: n >= 1, timeout_s=90)
            busy = next(r for r in replicas if job["id"] in r.log())
            idle = next(r for r in replicas if r is not busy)
            assert busy.proc is not None
            signalled = time.monotonic()
            busy.proc.send_signal(signal.SIGTERM)

            # It exits cleanly within the grace period ...
            code, exited_at = await asyncio.to_thread(exit_of, busy, 15)
            took_s = exited_at - signalled
            exited_at_wall = time.time() - (time.monotonic() - exited_at)
            assert code == 0, busy.log()[-2000:]
            # It ends at most `grace_s` after its signal handler ran (its own clock says
            # when: the `service.stopping` line); on this shared 2-core machine the handler
            # itself may run a second or so after the signal was sent.
            assert exited_at_wall - stopping_at(busy) <= grace_s + 0.05
            assert took_s <= grace_s + 2.0, took_s
            assert '"service.stopped"' in busy.log()

            # ... and the other replica has the job at once (not after the ack wait) and
            # finishes it.
            await eventually(lambda: _mentions(idle, job["id"]), timeout_s=10)
            handed_over_s = time.monotonic() - signalled
            assert handed_over_s < 15, handed_over_s
            done = await system.wait_status(job["id"], "completed", timeout_s=120)
            assert done["retry_count"] == 0 and done["outputs"]
        finally:
            for replica in replicas:
                replica.stop()


async def test_sigterm_lets_in_flight_work_finish_and_takes_no_more(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # One renderer process, with a grace long enough for its current render.
    async with running_system(nats_server.url, tmp_path, renderer_workers=0) as system:
        (replica,) = renderers(
            system, tmp_path, 1, RENDER_SCALE_DIVISOR="10", SHUTDOWN_GRACE_S="30"
        )
        replica.start()
        try:
            await system.drained("renderer")
            first = await system.approved_job(duration_s=10)
            second = await system.approved_job(duration_s=10)
            await system.call("POST", f"/api/v2/jobs/{first['id']}/render")
            await eventually(lambda: _mentions(replica, first["id"]), timeout_s=30)

            # SIGTERM while it renders; then the next render is asked for.
            assert replica.proc is not None
            signalled = time.monotonic()
            replica.proc.send_signal(signal.SIGTERM)
            await system.call("POST", f"/api/v2/jobs/{second['id']}/render")

            # It stops answering ready (load balancers and KEDA look elsewhere) ...
            assert await eventually(lambda: readiness(replica), lambda s: s != 200) in (503, 0)
            # ... finishes the render it holds, and exits well within the grace.
            code, exited_at = await asyncio.to_thread(exit_of, replica, 40)
            assert code == 0 and exited_at - signalled < 30
            done = await system.wait_status(first["id"], "completed", timeout_s=10)
            assert done["outputs"]

            # The render asked for during the shutdown was not taken: it waits for a
            # replica, and the next one to start does it.
            assert second["id"] not in replica.log()
            assert (await system.job(second["id"]))["progress"]["percent"] == 0
            (successor,) = renderers(system, tmp_path / "next", 1, RENDER_SCALE_DIVISOR="10")
            (tmp_path / "next").mkdir()
            successor.start()
            try:
                await system.wait_status(second["id"], "completed", timeout_s=60)
            finally:
                successor.stop()
        finally:
            replica.stop()


async def _mentions(replica: ServiceProcess, job_id: str) -> bool:
    return job_id in replica.log()
