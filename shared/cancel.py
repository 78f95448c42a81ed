"""Per-job cancellation inside a worker: run a job's work as its own task so a
`jobs.canceled` stops it, and tell that apart from a shutdown cancelling the handler.

Example::

    scope = CancelScope()
    try:
        result = await scope.run(job_id, make_storyboard())
    except JobWasCanceled:
        return                       # ack: the job is over
    ...
    await scope.cancel(job_id)       # from the jobs.canceled handler
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


class JobWasCanceled(Exception):
    pass


class CancelScope:
    def __init__(self) -> None:
        self._running: dict[str, asyncio.Future[Any]] = {}

    def is_running(self, job_id: str) -> bool:
        return job_id in self._running

    async def run(self, job_id: str, work: Awaitable[T]) -> T:
        task = asyncio.ensure_future(work)
        self._running[job_id] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the handler itself is being cancelled: a shutdown
            raise JobWasCanceled(job_id) from None
        finally:
            self._running.pop(job_id, None)

    def cancel(self, job_id: str) -> bool:
        task = self._running.get(job_id)
        if task is None:
            return False
        task.cancel()
        return True
