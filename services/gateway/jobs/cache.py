"""The poll cache: each job's JSON, serialised once per change, with its ETag, plus
fan-out to SSE listeners. Polls never touch the database while the job is cached."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from services.gateway.metrics import POLL_CACHE
from shared.models import Job

CACHE_LIMIT = 100_000


@dataclass(frozen=True)
class CachedJob:
    job: Job
    client_id: str
    body: bytes
    etag: str
    headers: dict[str, str]


def cached(job: Job, client_id: str) -> CachedJob:
    body = job.model_dump_json().encode()
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    return CachedJob(job=job, client_id=client_id, body=body, etag=etag, headers=headers)


class JobCache:
    def __init__(self, limit: int = CACHE_LIMIT) -> None:
        self._entries: OrderedDict[str, CachedJob] = OrderedDict()
        self._listeners: dict[str, set[asyncio.Queue[CachedJob | None]]] = {}
        self.limit = limit
        self.hits = 0
        self.misses = 0

    def get(self, job_id: str) -> CachedJob | None:
        entry = self._entries.get(job_id)
        if entry is None:
            self.misses += 1
            POLL_CACHE.misses += 1
        else:
            self.hits += 1
            POLL_CACHE.hits += 1
        return entry

    def put(self, job: Job, client_id: str) -> CachedJob:
        entry = cached(job, client_id)
        self._entries[job.id] = entry
        self._entries.move_to_end(job.id)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)
        for queue in self._listeners.get(job.id, ()):
            queue.put_nowait(entry)
        return entry

    def __len__(self) -> int:
        return len(self._entries)

    def listen(self, job_id: str) -> asyncio.Queue[CachedJob | None]:
        """A queue of the job's new states; `None` means the gateway is shutting down."""
        queue: asyncio.Queue[CachedJob | None] = asyncio.Queue()
        self._listeners.setdefault(job_id, set()).add(queue)
        return queue

    def close_listeners(self) -> None:
        for listeners in self._listeners.values():
            for queue in listeners:
                queue.put_nowait(None)

    def unlisten(self, job_id: str, queue: asyncio.Queue[CachedJob | None]) -> None:
        listeners = self._listeners.get(job_id, set())
        listeners.discard(queue)
        if not listeners:
            self._listeners.pop(job_id, None)
