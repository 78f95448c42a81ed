"""The poll lane: `GET /api/v2/jobs/{job_id}` answered from the poll cache before aiohttp
routes the request.

Polls are most of the gateway's traffic (every client, every few seconds, for every open
job) and nearly all of them are the same question with the same answer. Routed the usual
way a poll paid for the router, aiohttp's middleware machinery (a wrapper per layer and
the app's own `current_app` middleware), the API middleware and three coroutines of view:
about 11 µs a request on top of what a bare aiohttp handler costs (bench/README.md).

The lane sits in front of the app (`install_poll_lane` wraps the server's request handler)
and answers only what it can answer exactly as the app would: a GET of that path, with no
query string, for a job in the cache that the caller's token — one the gateway verified
before — may see. The answer is the
view's own (`poll_answer`: 200 with the cached body, or 304 for a current `If-None-Match`),
with the same CORS headers and the same count and latency in `http_requests_total` /
`http_request_duration_seconds`. Anything else — no token, a token not verified yet (the
app verifies it, and the next poll with it takes the lane), someone else's job, a job not
cached, HEAD, a query string, an encoded path — goes to the app untouched, whose
middleware and view answer it (and count it) the usual way.

At start-up the lane checks the route it stands in for still exists and asks for nothing
the lane does not do (a span, idempotency, admission, media tokens): if `get_job`'s
`@operation` changes, the gateway refuses to start rather than answer differently.

Example::

    app[POLL_LANE] = PollLane(verifier, app[CACHE], cors)
    runner, port = await start_site(app, host, port, on_setup=install_poll_lane)
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from time import perf_counter

from aiohttp import web
from aiohttp.web_urldispatcher import UrlDispatcher

from services.gateway.contract.operations import operation_of
from services.gateway.http.auth import TokenVerifier
from services.gateway.http.cors import Cors
from services.gateway.jobs.cache import JobCache
from services.gateway.paths import JOB
from services.gateway.views.job_access import poll_answer
from shared.metrics import HTTP_REQUESTS

RequestHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

# The route's template with its one parameter as a plain path segment; an id with anything
# a client would have to percent-encode is not a job id and goes the usual way.
PATH = re.compile(re.escape(JOB).replace(re.escape("{job_id}"), "([0-9A-Za-z_-]{1,64})"))


class PollLane:
    def __init__(self, verifier: TokenVerifier, cache: JobCache, cors: Cors | None) -> None:
        self._verifier = verifier
        self._cache = cache
        self._cors = cors
        self.answered = 0

    def answer(self, request: web.BaseRequest) -> web.StreamResponse | None:
        """The poll's answer, or None for the app to give (nothing here waits)."""
        if request.method != "GET":
            return None
        found = PATH.fullmatch(request.raw_path)
        if found is None:
            return None
        started = perf_counter()
        entry = self._cache.peek(found.group(1))
        if entry is None:
            return None
        headers = request.headers
        # A token seen before only: the app checks new ones (and refuses bad ones).
        principal = self._verifier.known(headers.get("Authorization"))
        if principal is None or (entry.client_id != principal.client_id and not principal.is_admin):
            return None
        self._cache.touch(entry)
        response = poll_answer(entry, headers.get("If-None-Match"))
        if self._cors is not None:
            self._cors.decorate_api(request, response)
        self.answered += 1
        HTTP_REQUESTS.observe(JOB, "GET", response.status, perf_counter() - started)
        return response

    def before(self, app_handler: RequestHandler) -> RequestHandler:
        """The server's request handler: the lane first, then the app."""
        answer = self.answer

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            response = answer(request)
            return response if response is not None else await app_handler(request)

        return handle


def check_route(router: UrlDispatcher) -> None:
    """The route the lane stands in for exists, and its operation asks for nothing the lane
    does not do; ValueError otherwise."""
    for resource in router.resources():
        if resource.canonical != JOB:
            continue
        for route in resource:
            if route.method != "GET":
                continue
            op = operation_of(route.handler)
            if op is None:
                raise ValueError(f"GET {JOB} has no @operation: the poll lane cannot stand in")
            asks = {
                "a span": op.traced,
                "no authentication": not op.auth,
                "media tokens": op.media_token,
                "idempotency": op.idempotent,
                "admission": op.admission is not None,
            }
            extra = [name for name, wanted in asks.items() if wanted]
            if extra:
                raise ValueError(
                    f"GET {JOB} asks for {', '.join(extra)}: the poll lane does not do that;"
                    " change the lane (http/poll_lane.py) with the operation"
                )
            return
    raise ValueError(f"no GET {JOB} route: the poll lane has nothing to stand in for")


POLL_LANE: web.AppKey[PollLane] = web.AppKey("poll_lane")


def install_poll_lane(runner: web.AppRunner) -> None:
    """Put the app's poll lane in front of it; after `runner.setup()`, before the site
    starts (the server hands its request handler to each new connection)."""
    server = runner.server
    if server is None:
        raise RuntimeError("install_poll_lane before runner.setup()")
    check_route(runner.app.router)
    server.request_handler = runner.app[POLL_LANE].before(server.request_handler)
