"""Stopping background tasks (`shared.tasks.stop_task`): a clean end, a crash that is
logged rather than hidden, a stuck task cancelled after its grace."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.tasks import stop_task


async def test_a_task_that_stops_by_itself_is_awaited() -> None:
    # The task ends when told to; stop_task returns once it has.
    stop = asyncio.Event()

    async def loop() -> None:
        await stop.wait()

    task = asyncio.create_task(loop())
    stop.set()
    await stop_task(task, timeout_s=5)
    assert task.done() and not task.cancelled()


async def test_a_crashed_task_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    # A task that died with an error: stopping it logs the crash with its traceback.
    async def crash() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(crash(), name="crasher")
    await asyncio.wait({task})
    with caplog.at_level(logging.ERROR):
        await stop_task(task, timeout_s=1)
    crashed = [r for r in caplog.records if r.getMessage() == "task.crashed"]
    assert crashed and crashed[0].exc_info is not None
    assert "boom" in str(crashed[0].exc_info[1])


async def test_a_stuck_task_is_cancelled_after_its_grace() -> None:
    # A task that ignores the stop signal is cancelled when the grace runs out.
    task = asyncio.create_task(asyncio.sleep(3600))
    await stop_task(task, timeout_s=0.05)
    assert task.cancelled()
