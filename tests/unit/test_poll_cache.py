"""The poll cache stays within its byte budget, drops the job used longest ago first, and
answers with the job exactly as it was put."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from services.gateway.jobs import cache as cache_module
from services.gateway.jobs.cache import (
    ENTRY_OVERHEAD_BYTES,
    KEEP_ALIVE,
    CachedJob,
    JobCache,
    cached,
)
from shared.models import Job, JobStatus, Progress
from tests.support.waiting import eventually


def job(number: int, message: str = "") -> Job:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    return Job(
        id=f"job-{number}",
        campaign_id="spring",
        status=JobStatus.storyboarding,
        progress=Progress(stage="storyboarding", percent=40.0, message=message),
        created_at=now,
        updated_at=now,
    )


def test_an_entry_answers_with_the_job_as_it_was_put() -> None:
    original = job(1, "drawing scene 2 of 5")
    entry = JobCache(max_bytes=1 << 20).put(original, "client-1")
    # The body is the API's JSON, and the model read back from it is the same job.
    assert entry.body == original.model_dump_json().encode()
    assert entry.job == original
    assert entry.headers == {"ETag": entry.etag, "Cache-Control": "no-cache"}
    # The ETag names the body: another state of the job has another one.
    assert cached(job(1, "drawing scene 3 of 5"), "client-1").etag != entry.etag


def test_the_cache_keeps_within_its_bytes_and_drops_the_least_recently_used() -> None:
    size = cached(job(1), "c").size
    cache = JobCache(max_bytes=3 * size)
    for number in (1, 2, 3):
        cache.put(job(number), "c")
    assert len(cache) == 3 and cache.bytes == 3 * size
    # A poll of job 1 makes job 2 the one used longest ago ...
    assert cache.get("job-1") is not None
    cache.put(job(4), "c")
    # ... so job 2 goes, and the cache is back within its budget.
    assert cache.get("job-2") is None
    assert all(cache.get(f"job-{n}") is not None for n in (1, 3, 4))
    assert cache.bytes == 3 * size <= cache.max_bytes and cache.evictions == 1


async def test_a_job_read_for_a_request_never_replaces_a_cached_state_nor_reaches_streams() -> None:
    cache = JobCache(max_bytes=1 << 20)
    newer = cache.put(job(1, "drawing scene 3 of 5"), "c")
    stream = cache.listen("job-1")
    # A read that started before that state was put: the cached state stays.
    assert cache.add_read(job(1, "drawing scene 2 of 5"), "c") is newer
    assert cache.get("job-1") is newer and len(cache) == 1 and cache.bytes == newer.size
    read = cache.add_read(job(2), "c")
    assert cache.get("job-2") is read and cache.bytes == newer.size + read.size
    assert stream.empty()  # nothing changed: no stream hears a read
    cache.close_listeners()


def test_jobs_a_list_reads_are_evicted_before_the_ones_being_polled() -> None:
    size = cached(job(1), "c").size
    cache = JobCache(max_bytes=3 * size)
    for number in (1, 2):
        cache.put(job(number), "c")
    listed = cache.add_read(job(3), "c", cold=True)
    assert cache.peek("job-3") is listed and len(cache) == 3
    # Full: the next listed job makes room by going itself, the polled ones stay ...
    cache.add_read(job(4), "c", cold=True)
    assert cache.peek("job-4") is None and cache.evictions == 1
    # ... and a new state pushes out the job listed earlier before any polled one.
    cache.put(job(5), "c")
    assert cache.peek("job-3") is None
    assert all(cache.peek(f"job-{n}") is not None for n in (1, 2, 5))


def test_a_listed_job_once_polled_is_kept_like_any_polled_job() -> None:
    size = cached(job(1), "c").size
    cache = JobCache(max_bytes=3 * size)
    cache.put(job(1), "c")
    cache.add_read(job(2), "c", cold=True)
    assert cache.get("job-2") is not None  # the client opens the job it saw in the list
    cache.put(job(3), "c")
    cache.put(job(4), "c")
    assert cache.peek("job-1") is None
    assert all(cache.peek(f"job-{n}") is not None for n in (2, 3, 4))


def test_a_new_state_replaces_the_old_one_in_the_count() -> None:
    cache = JobCache(max_bytes=1 << 20)
    cache.put(job(1, "short"), "c")
    entry = cache.put(job(1, "a much longer progress message"), "c")
    # One entry, counted once, at its new size.
    assert len(cache) == 1
    assert cache.bytes == entry.size == len(entry.body) + ENTRY_OVERHEAD_BYTES


def test_a_job_larger_than_the_budget_is_still_answered() -> None:
    cache = JobCache(max_bytes=1)
    cache.put(job(1), "c")
    entry = cache.put(job(2), "c")
    # The newest job stays (its caller answers with it); the older one made room.
    assert cache.get("job-2") is entry and cache.get("job-1") is None


async def test_one_timer_sends_every_listener_a_keep_alive_until_none_listen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cache_module, "KEEP_ALIVE_S", 0.02)
    cache = JobCache(max_bytes=1 << 20)
    first, second = cache.listen("job-1"), cache.listen("job-2")
    async with asyncio.timeout(5):
        assert await first.get() is KEEP_ALIVE
        assert await second.get() is KEEP_ALIVE
        # A new state still arrives in between, in order.
        cache.put(job(1), "client-1")
        update = await first.get()
        while update is KEEP_ALIVE:
            update = await first.get()
        assert isinstance(update, CachedJob) and update.job_id == "job-1"
    cache.unlisten("job-1", first)
    cache.unlisten("job-2", second)

    # Nobody listens: the timer stops at its next tick instead of running forever.
    async def ticking() -> bool:
        return cache._ticker is not None

    await eventually(ticking, lambda running: not running, timeout_s=5)


async def test_closing_the_listeners_ends_their_streams_and_the_timer() -> None:
    cache = JobCache(max_bytes=1 << 20)
    queue = cache.listen("job-1")
    cache.close_listeners()
    assert queue.get_nowait() is None
    assert cache._ticker is None
