"""Which drawn scenes are worth a `jobs.storyboard.progress` event.

Each progress event costs a publish here and, at the gateway, a transaction on the job
row, its JSON and a message to every client following the job. A person watching a
progress bar gains nothing from updates closer together than `PROGRESS_EVERY_S`, and
nothing from "scene 3 of 3 drawn" a few milliseconds before `storyboard.completed` says
100%. So the first drawn scene is always reported (the job shows `storyboarding`), the
last never (the completed event follows at once), and the others only when the last
report is at least `PROGRESS_EVERY_S` old. A storyboard of model pictures (seconds per
frame) still reports every scene but the last; one drawn locally in milliseconds
reports one.

Example::

    pacer = ProgressPacer()
    if pacer.due(done=1, total=6):      # True: the first scene
        ...                             # publish the progress event
"""

from __future__ import annotations

import time
from collections.abc import Callable

PROGRESS_EVERY_S = 0.5


class ProgressPacer:
    """Decides, scene by scene, whether to report progress (one per storyboard)."""

    def __init__(
        self, every_s: float = PROGRESS_EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every_s = every_s
        self.clock = clock
        self.last: float | None = None

    def due(self, done: int, total: int) -> bool:
        if done >= total:
            return False
        now = self.clock()
        if self.last is not None and now - self.last < self.every_s:
            return False
        self.last = now
        return True
