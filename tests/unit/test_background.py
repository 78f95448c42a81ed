"""The gateway's one way to run a loop beside the HTTP server (`background`): what `start`
puts on the app is there before the first request, the loop runs as a named task, a crash
is reported at once, and shutdown tells the loop to stop and waits for it."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from services.gateway.background import Loop, background

STARTED = web.AppKey("started", list[str])


async def test_the_loop_runs_until_shutdown_tells_it_to_stop() -> None:
    app = web.Application()
    seen: list[str] = []
    running, stopped = asyncio.Event(), asyncio.Event()

    def start(app: web.Application) -> Loop:
        app[STARTED] = ["ready"]

        async def loop(stop: asyncio.Event) -> None:
            seen.append(asyncio.current_task().get_name())  # type: ignore[union-attr]
            running.set()
            await stop.wait()
            stopped.set()

        return loop

    context = background("sweeper", start)(app)
    await anext(context)
    # Set synchronously at start-up, before any request could be served.
    assert app[STARTED] == ["ready"]
    await asyncio.wait_for(running.wait(), 5)
    assert seen == ["sweeper"]
    assert not stopped.is_set()
    with pytest.raises(StopAsyncIteration):
        await anext(context)
    assert stopped.is_set()


async def test_a_crashed_loop_is_reported_when_it_crashes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def crash(stop: asyncio.Event) -> None:
        raise RuntimeError("boom")

    context = background("crasher", lambda app: crash)(web.Application())
    with caplog.at_level(logging.ERROR):
        await anext(context)
        task = next(task for task in asyncio.all_tasks() if task.get_name() == "crasher")
        # Callbacks run in the order they were added: the report comes before wait's own.
        await asyncio.wait({task}, timeout=5)
        # Shutdown still completes (the crash is logged, not raised again).
        with pytest.raises(StopAsyncIteration):
            await anext(context)
    crashed = [r for r in caplog.records if r.message == "gateway.task_crashed"]
    assert crashed[0].task == "crasher"  # type: ignore[attr-defined]


async def test_a_loop_that_ignores_stop_is_cancelled_after_its_grace() -> None:
    cancelled = asyncio.Event()

    async def stubborn(stop: asyncio.Event) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    context = background("stubborn", lambda app: stubborn, stop_after_s=0.05)(web.Application())
    await anext(context)
    with pytest.raises(StopAsyncIteration):
        await anext(context)
    assert cancelled.is_set()
