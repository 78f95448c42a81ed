"""Running a stage's calls (frames, clips) concurrently, all or nothing.

Example::

    results = await all_or_nothing([draw(scene) for scene in scenes])
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def all_or_nothing(work: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Every result in order; on the first failure the rest are cancelled and that failure
    is raised as itself (not an ExceptionGroup: its message becomes `error_message`)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(item) for item in work]
    except BaseExceptionGroup as failed:
        first: BaseException = failed.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]
