"""Which drawn scenes the storyboard worker reports as progress (services/storyboard/
progress.py): only once half a second has passed since the work started or since the last
report, and never the last scene."""

from __future__ import annotations

import itertools

from services.storyboard.progress import PROGRESS_EVERY_S, ProgressPacer


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_quick_storyboard_reports_no_scene() -> None:
    # Six frames drawn within milliseconds of each other.
    clock = Clock()
    pacer = ProgressPacer(clock=clock)
    reported = []
    for done in range(1, 7):
        clock.now += 0.01
        reported.append(pacer.due(done, 6))

    # storyboard.completed follows within 60 ms of the start: nothing to say before it.
    assert reported == [False] * 6


def test_a_slow_storyboard_reports_every_scene_but_the_last() -> None:
    # Frames from a model, seconds apart.
    clock = Clock()
    pacer = ProgressPacer(clock=clock)
    reported = []
    for done in range(1, 5):
        clock.now += 3.0
        reported.append(pacer.due(done, 4))
    assert reported == [True, True, True, False]


def test_reports_are_the_interval_apart_counting_from_the_start() -> None:
    # Scenes every 0.2 s: the first report once 0.5 s of work have passed, then each
    # one once the interval has passed again.
    clock = Clock()
    started = clock.now
    pacer = ProgressPacer(clock=clock)
    times = []
    for done in range(1, 11):
        clock.now += 0.2
        if pacer.due(done, 11):
            times.append(clock.now)
    gaps = [later - earlier for earlier, later in itertools.pairwise([started, *times])]
    assert len(times) == 3 and all(gap >= PROGRESS_EVERY_S for gap in gaps)


def test_a_single_scene_storyboard_reports_nothing_before_it_completes() -> None:
    clock = Clock()
    pacer = ProgressPacer(clock=clock)
    clock.now += 5.0
    assert pacer.due(1, 1) is False
