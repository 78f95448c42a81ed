"""Following a job until a condition holds: the SSE stream `GET /jobs/{id}/events`, and
when it is unavailable (a proxy that buffers, an older gateway, a dropped stream) polling
`GET /jobs/{id}` with `If-None-Match`, waiting `poll_after_ms` between polls."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from reelsmith_cli.client import EXIT_SERVER, Api, CliError, error_from, job_path

Job = dict[str, Any]
SSE_READ_TIMEOUT_S = 45.0  # the gateway sends a keep-alive every 15 s
DEFAULT_POLL_MS = 2000
MOVING_STAGES = frozenset({"storyboarding", "refining", "rendering", "exporting"})


@dataclass
class FollowStats:
    sse_events: int = 0
    polls: int = 0
    not_modified: int = 0
    fell_back: bool = False


class JobFollower:
    def __init__(
        self,
        api: Api,
        job_id: str,
        on_update: Callable[[Job], None] = lambda job: None,
        use_sse: bool = True,
        timeout_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.job_id = job_id
        self.on_update = on_update
        self.use_sse = use_sse
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.sleep = sleep
        self.stats = FollowStats()

    def until(self, done: Callable[[Job], bool]) -> Job:
        """The first state of the job for which `done` holds; `done` decides about final
        states too (an export runs while the job stays `completed`)."""
        if self.use_sse:
            job = self._stream(done)
            if job is not None and done(job):
                return job
            # The stream ended early (it closes once the job is final) or was unusable.
            self.stats.fell_back = True
        return self._poll(done)

    def _update(self, job: Job) -> None:
        self.on_update(job)
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise CliError(
                EXIT_SERVER,
                f"gave up waiting; job {self.job_id} is {job['status']} and carries on"
                f" (reelsmith status {self.job_id})",
                {"code": "wait_timeout", "message": "gave up waiting", "details": job},
            )

    def _stream(self, done: Callable[[Job], bool]) -> Job | None:
        """Read the SSE stream until `done`; None (fall back) when it cannot be used."""
        timeout = httpx.Timeout(10.0, read=SSE_READ_TIMEOUT_S)
        headers = {"Accept": "text/event-stream"}
        last: Job | None = None
        try:
            with self.api.http.stream(
                "GET", job_path(self.job_id, "events"), headers=headers, timeout=timeout
            ) as response:
                if 400 <= response.status_code < 500:
                    response.read()
                    raise error_from(response)  # e.g. 404: polling would not help
                content_type = response.headers.get("Content-Type", "")
                if response.status_code != 200 or "text/event-stream" not in content_type:
                    return None
                for event, data in sse_events(response.iter_lines()):
                    if event != "job":
                        continue
                    last = json.loads(data)
                    self.stats.sse_events += 1
                    self._update(last)
                    if done(last):
                        return last
        except (httpx.TransportError, httpx.StreamError, ValueError):
            pass  # a dropped or garbled stream: polling takes over
        return last

    def _poll(self, done: Callable[[Job], bool]) -> Job:
        etag: str | None = None
        job: Job | None = None
        while True:
            headers = {"If-None-Match": etag} if etag else {}
            response = self.api.request("GET", job_path(self.job_id), headers=headers)
            self.stats.polls += 1
            if response.status_code == 304 and job is not None:
                self.stats.not_modified += 1
            else:
                job = response.json()
                etag = response.headers.get("ETag")
                self._update(job)
            if done(job):
                return job
            self.sleep(poll_interval_s(job))


def poll_interval_s(job: Job) -> float:
    """The gateway's `poll_after_ms`, except while work visibly moves: an export runs
    while the job stays `completed`, whose hint is the 10 s of a finished job."""
    wait_ms = int(job.get("poll_after_ms") or DEFAULT_POLL_MS)
    if (job.get("progress") or {}).get("stage") in MOVING_STAGES:
        wait_ms = min(wait_ms, DEFAULT_POLL_MS)
    return wait_ms / 1000


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream; comments (keep-alives) are skipped."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
