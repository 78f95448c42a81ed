"""Which drawn scenes the storyboard worker reports as progress (services/storyboard/
progress.py): the first always, the last never, the others at most every half second."""

from __future__ import annotations

import itertools

from services.storyboard.progress import PROGRESS_EVERY_S, ProgressPacer


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_quick_storyboard_reports_its_first_scene_only() -> None:
    # Six frames drawn within milliseconds of each other.
    clock = Clock()
    pacer = ProgressPacer(clock=clock)
    reported = []
    for done in range(1, 7):
        clock.now += 0.01
        reported.append(pacer.due(done, 6))

    # The first scene says the job is being drawn; storyboard.completed says the rest.
    assert reported == [True, False, False, False, False, False]


def test_a_slow_storyboard_reports_every_scene_but_the_last() -> None:
    # Frames from a model, seconds apart.
    clock = Clock()
    pacer = ProgressPacer(clock=clock)
    reported = []
    for done in range(1, 5):
        clock.now += 3.0
        reported.append(pacer.due(done, 4))
    assert reported == [True, True, True, False]


def test_reports_are_at_least_the_interval_apart() -> None:
    # Scenes every 0.2 s: a report, then the next one once the interval has passed.
    clock = Clock()
    pacer = ProgressPacer(clock=clock)
    times = []
    for done in range(1, 11):
        clock.now += 0.2
        if pacer.due(done, 11):
            times.append(clock.now)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) == 4 and all(gap >= PROGRESS_EVERY_S for gap in gaps)


def test_a_single_scene_storyboard_reports_nothing_before_it_completes() -> None:
    assert ProgressPacer().due(1, 1) is False
