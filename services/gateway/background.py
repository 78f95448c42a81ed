"""The one way the gateway starts work that runs beside the HTTP server.

`background(name, start)` is an aiohttp cleanup context: at start-up it calls `start(app)`
(synchronously, so whatever it puts on the app is there before the first request), runs
the loop it returns as a named task, reports a crash at once, and at shutdown sets the
loop's stop event and waits up to `stop_after_s` before cancelling it. Cleanup contexts
stop in the reverse of the order they started, so a loop listed after the database and
the bus stops before them. Example::

    def reaper(app: web.Application) -> Loop:
        app[REAPER] = Reaper(app[DB], ...)
        return app[REAPER].run

    app.cleanup_ctx.append(background("reaper", reaper))
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from aiohttp import web

from shared.logging import get_logger
from shared.tasks import stop_task

log = get_logger(__name__)

Loop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def background(
    name: str, start: Callable[[web.Application], Loop], stop_after_s: float = 15.0
) -> CleanupContext:
    async def context(app: web.Application) -> AsyncIterator[None]:
        loop = start(app)
        stop = asyncio.Event()
        task = asyncio.create_task(loop(stop), name=name)
        task.add_done_callback(_report_crash)
        yield
        stop.set()
        await stop_task(task, timeout_s=stop_after_s)

    context.__name__ = context.__qualname__ = f"background[{name}]"
    return context


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("gateway.task_crashed", extra={"task": task.get_name()}, exc_info=exc)
