"""The poll cache: each job's JSON, serialised once per change, with its ETag, plus
fan-out to SSE listeners. Polls never touch the database while the job is cached.

The cache holds at most `max_bytes` (POLL_CACHE_MAX_BYTES): each job's body plus
`ENTRY_OVERHEAD_BYTES` of bookkeeping. Past that the least recently used job is dropped,
and read again from the database the next time it is asked for; a poll, a view of the job
or a new state of it counts as a use. The jobs a list page reads are kept too, but cold:
first in line for eviction, so paging through a history never pushes out the jobs being
polled. A job read from the database never replaces a state already cached (`add_read`).

An entry keeps the JSON, not the `Job` model: the model takes about five times the memory
of its JSON (24 KB for a typical 4.5 KB job), which made 100,000 cached jobs cost 3 GB;
`entry.job` parses the body again (~0.1 ms) for the few views that need the model."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict

from services.gateway.metrics import POLL_CACHE
from shared.models import Job

# Every open event stream hears something this often, so proxies keep idle streams open.
KEEP_ALIVE_S = 15.0


class KeepAlive:
    """Put in every listener's queue every `KEEP_ALIVE_S` by one timer for all streams,
    rather than a timeout per stream (each of those a task and a timer handle while it
    waits: kilobytes per stream with thousands open)."""


KEEP_ALIVE = KeepAlive()
# An entry's object, its ETag and headers dict, its key and the OrderedDict's node: ~430
# bytes measured with tracemalloc (bench/README.md, "The poll cache's bound").
ENTRY_OVERHEAD_BYTES = 500


class CachedJob:
    """One job as the API answers it: the body, its ETag and the response headers."""

    __slots__ = ("body", "client_id", "etag", "final", "headers", "job_id")

    def __init__(self, job_id: str, client_id: str, body: bytes, final: bool) -> None:
        self.job_id = job_id
        self.client_id = client_id
        self.body = body
        self.final = final  # the job is completed, failed or canceled: its stream ends
        self.etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        self.headers = {"ETag": self.etag, "Cache-Control": "no-cache"}

    @property
    def job(self) -> Job:
        """The job model, parsed from the body on each access (it is not kept)."""
        return Job.model_validate_json(self.body)

    @property
    def size(self) -> int:
        return len(self.body) + ENTRY_OVERHEAD_BYTES


# What a listener's queue carries: a new state, a keep-alive tick, or None (shutting down).
Update = CachedJob | KeepAlive | None


def cached(job: Job, client_id: str) -> CachedJob:
    return CachedJob(job.id, client_id, job.model_dump_json().encode(), job.status.is_final)


class JobCache:
    def __init__(self, max_bytes: int) -> None:
        self._entries: OrderedDict[str, CachedJob] = OrderedDict()
        self._listeners: dict[str, set[asyncio.Queue[Update]]] = {}
        self._ticker: asyncio.TimerHandle | None = None
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evictions = 0

    def get(self, job_id: str) -> CachedJob | None:
        entry = self._entries.get(job_id)
        if entry is None:
            POLL_CACHE.misses += 1
        else:
            self._entries.move_to_end(job_id)
            POLL_CACHE.hits += 1
        return entry

    def peek(self, job_id: str) -> CachedJob | None:
        """The entry without counting or reordering (the poll lane: `touch` if it answers)."""
        return self._entries.get(job_id)

    def touch(self, entry: CachedJob) -> None:
        """Count a hit on an entry from `peek` and keep it from eviction the longest."""
        self._entries.move_to_end(entry.job_id)
        POLL_CACHE.hits += 1

    def put(self, job: Job, client_id: str) -> CachedJob:
        """A new state of the job (written and committed): cached, and sent to its streams."""
        entry = cached(job, client_id)
        old = self._entries.pop(job.id, None)
        if old is not None:
            self.bytes -= old.size
        self._entries[job.id] = entry
        self.bytes += entry.size
        self._evict()
        for queue in self._listeners.get(job.id, ()):
            queue.put_nowait(entry)
        return entry

    def add_read(self, job: Job, client_id: str, cold: bool = False) -> CachedJob:
        """A job a request read from the database. A state already cached is at least as
        new (every change is put after its commit, maybe while the read ran), so it stays
        and is returned. `cold` keeps the job first in line for eviction: the jobs a list
        reads must not push out the ones being polled. Streams hear nothing: nothing
        changed."""
        entry = self._entries.get(job.id)
        if entry is not None:
            return entry
        entry = self._entries[job.id] = cached(job, client_id)
        if cold:
            self._entries.move_to_end(job.id, last=False)
        self.bytes += entry.size
        self._evict()
        return entry

    def _evict(self) -> None:
        # The newest entry stays even when it alone is over the limit: the caller answers
        # with it, and the next put evicts it like any other.
        while self.bytes > self.max_bytes and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size
            self.evictions += 1

    def __len__(self) -> int:
        return len(self._entries)

    def listen(self, job_id: str) -> asyncio.Queue[Update]:
        """A queue of the job's new states, `KEEP_ALIVE` every `KEEP_ALIVE_S`, and `None`
        when the gateway is shutting down."""
        queue: asyncio.Queue[Update] = asyncio.Queue()
        self._listeners.setdefault(job_id, set()).add(queue)
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().call_later(KEEP_ALIVE_S, self._tick)
        return queue

    def _tick(self) -> None:
        self._ticker = None
        if not self._listeners:
            return
        for listeners in self._listeners.values():
            for queue in listeners:
                queue.put_nowait(KEEP_ALIVE)
        self._ticker = asyncio.get_running_loop().call_later(KEEP_ALIVE_S, self._tick)

    def close_listeners(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for listeners in self._listeners.values():
            for queue in listeners:
                queue.put_nowait(None)

    def unlisten(self, job_id: str, queue: asyncio.Queue[Update]) -> None:
        listeners = self._listeners.get(job_id, set())
        listeners.discard(queue)
        if not listeners:
            self._listeners.pop(job_id, None)
