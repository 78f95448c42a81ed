"""Which drawn scenes are worth a `jobs.storyboard.progress` event.

Each progress event costs a publish here and, at the gateway, a transaction on the job
row, its JSON and a message to every client following the job. A person watching a
progress bar gains nothing from updates closer together than `PROGRESS_EVERY_S`, nor
from hearing that drawing began a few milliseconds before `storyboard.completed` says
100%, nor from "scene 3 of 3 drawn" just before it. So a scene is reported only once the
work has run `PROGRESS_EVERY_S` since it started or since the last report, and the last
scene never (the completed event follows at once). A storyboard of model pictures
(seconds per frame) reports every scene but the last; one drawn locally within half a
second goes from `queued` to `storyboard_ready` with nothing in between (bench/README.md,
history of 2026-12-07: one message, one transaction and one SSE message fewer a job).

Example::

    pacer = ProgressPacer()              # when the work starts
    if pacer.due(done=1, total=6):       # True once half a second has passed
        ...                              # publish the progress event
"""

from __future__ import annotations

import time
from collections.abc import Callable

PROGRESS_EVERY_S = 0.5


class ProgressPacer:
    """Decides, scene by scene, whether to report progress; made when the work starts."""

    def __init__(
        self, every_s: float = PROGRESS_EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every_s = every_s
        self.clock = clock
        self.last = clock()

    def due(self, done: int, total: int) -> bool:
        if done >= total:
            return False
        now = self.clock()
        if now - self.last < self.every_s:
            return False
        self.last = now
        return True
