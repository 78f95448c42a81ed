"""How long a poller should wait before asking again, from what the job is doing."""

from __future__ import annotations

from shared.models import JobStatus

MIN_POLL_MS = 2000
MAX_POLL_MS = 10000

_MOVING = {JobStatus.storyboarding, JobStatus.refining, JobStatus.rendering}


def poll_after_ms(status: JobStatus, percent: float = 0.0) -> int:
    """Short while work moves (shorter near the end), long while the job waits for the
    user or is finished; always within 2000-10000 ms."""
    if status in _MOVING:
        return MIN_POLL_MS if percent >= 50 else 3000
    if status == JobStatus.queued:
        return 3000
    return MAX_POLL_MS
