"""The job a view acts on: the one named in the path, found in the gateway's cache (or
read once from the database), visible only to its owner and admins, and answered with
the cached body and headers, so every job view answers the same way."""

from __future__ import annotations

from aiohttp import web

from services.gateway.appkeys import CACHE, STORE
from services.gateway.http.errors import NotFound
from services.gateway.http.middlewares import principal_of
from services.gateway.jobs.cache import CachedJob, JobCache
from services.gateway.jobs.store import JobRecord
from shared.models import JobPage

JSON = "application/json"
JOB_HEADERS = {
    "ETag": "Version of this representation of the job, for If-None-Match.",
    "Cache-Control": "`no-cache`: revalidate with If-None-Match.",
}


def job_response(entry: CachedJob, status: int = 200) -> web.Response:
    return web.Response(body=entry.body, status=status, content_type=JSON, headers=entry.headers)


def job_page_response(bodies: list[bytes], next_cursor: str | None) -> web.Response:
    """A `JobPage` of jobs already serialised: the page's own JSON around their bodies
    (as `JobPage(items=..., next_cursor=...).model_dump_json()` writes it, byte for byte)."""
    empty = JobPage(items=[], next_cursor=next_cursor).model_dump_json().encode()
    body = PAGE_START + b",".join(bodies) + empty.removeprefix(PAGE_START)
    return web.Response(body=body, content_type=JSON)


PAGE_START = b'{"items":['


def poll_answer(entry: CachedJob, if_none_match: str | None) -> web.Response:
    """A poll's answer: 304 when the caller's copy is current, else the job."""
    if if_none_match is not None and etag_matches(if_none_match, entry.etag):
        return web.Response(status=304, headers=entry.headers)
    return job_response(entry)


def etag_matches(header: str, etag: str) -> bool:
    if header == etag:
        return True
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in candidates or "*" in candidates


async def visible_job(request: web.Request) -> CachedJob:
    """The job named in the path, if the caller may see it (others' jobs are 404)."""
    job_id = request.match_info["job_id"]
    cache: JobCache = request.app[CACHE]
    entry = cache.get(job_id)
    if entry is None:
        record = await request.app[STORE].get(job_id)
        if record is not None:
            entry = cache.add_read(record.job, record.client_id)
    principal = principal_of(request)
    if entry is None or (entry.client_id != principal.client_id and not principal.is_admin):
        raise NotFound(f"job {job_id} not found")
    return entry


def remember(request: web.Request, record: JobRecord) -> CachedJob:
    """Put the job a command just wrote in the cache, for the answer and the next read."""
    return request.app[CACHE].put(record.job, record.client_id)
