"""How the CLI follows a job on the real gateway: the SSE stream when it can, else polling
with `If-None-Match` (304s) and the gateway's `poll_after_ms` between polls."""

from __future__ import annotations

import asyncio
import time

from reelsmith_cli.client import Api
from reelsmith_cli.follow import JobFollower
from tests.support.system import System


async def test_the_event_stream_follows_a_storyboard(system: System) -> None:
    job = await system.create_job(duration_s=10)
    seen: list[str] = []
    api = Api(system.base_url, system.token())
    follower = JobFollower(api, job["id"], on_update=lambda j: seen.append(j["status"]))
    final = await asyncio.to_thread(follower.until, lambda j: j["status"] == "storyboard_ready")
    api.close()
    # Every state came over SSE, with no poll, ending at the storyboard.
    assert final["status"] == "storyboard_ready" and final["storyboard"]["scenes"]
    assert follower.stats.polls == 0 and not follower.stats.fell_back
    assert follower.stats.sse_events == len(seen) >= 2 and seen[-1] == "storyboard_ready"


async def test_polling_honours_poll_after_ms_and_etags(system: System) -> None:
    job = await system.create_job(duration_s=10)
    asked: list[float] = []

    def short_sleep(seconds: float) -> None:
        # Record the wait the gateway asked for, but wait only briefly (the test's pace).
        asked.append(seconds)
        time.sleep(0.2)

    api = Api(system.base_url, system.token())
    hints: list[float] = []
    follower = JobFollower(
        api,
        job["id"],
        on_update=lambda j: hints.append(j["poll_after_ms"] / 1000),
        use_sse=False,
        sleep=short_sleep,
    )
    ready = await asyncio.to_thread(follower.until, lambda j: j["status"] == "storyboard_ready")
    assert ready["status"] == "storyboard_ready" and follower.stats.polls >= 2
    # Each wait was the gateway's hint for the state just seen (2-3 s while it moves).
    assert asked and set(asked) <= set(hints) and all(2.0 <= s <= 3.0 for s in asked)

    # A job that does not change answers 304s: no body, the last state kept.
    polls = {"n": 0}

    def third_poll(_: dict[str, object]) -> bool:
        polls["n"] += 1
        return polls["n"] == 3

    waiting = JobFollower(api, job["id"], use_sse=False, sleep=short_sleep)
    asked.clear()
    still = await asyncio.to_thread(waiting.until, third_poll)
    api.close()
    assert still == ready
    assert waiting.stats.polls == 3 and waiting.stats.not_modified == 2
    assert asked == [10.0, 10.0]  # a storyboard awaiting review is polled every 10 s
