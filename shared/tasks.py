"""Stopping a background task without hiding how it ended.

Example::

    stop.set()
    await stop_task(task, timeout_s=15)
"""

from __future__ import annotations

import asyncio
from typing import Any

from shared.logging import get_logger

log = get_logger(__name__)


async def stop_task(task: asyncio.Task[Any], timeout_s: float) -> None:
    """Give `task` up to `timeout_s` to finish on its own (whoever calls this has already
    told it to stop), then cancel it; await it either way.

    Its cancellation is expected and swallowed; any other exception it ended with is
    logged (`task.crashed`, with the traceback) and not raised, so one crashed task does
    not keep the others from stopping. Cancelling the caller still cancels the caller."""
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        log.warning("task.stop_timed_out", extra={"task": task.get_name(), "timeout_s": timeout_s})
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the caller itself is being cancelled, not just `task`
    except Exception:
        log.exception("task.crashed", extra={"task": task.get_name()})
