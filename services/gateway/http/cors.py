"""Browsers on other origins calling `/api/v2` (CORS), off unless `CORS_ALLOWED_ORIGINS`
names origins.

- Preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) are answered by
  `Cors.preflight`, first thing in the API middleware: a browser sends no `Authorization`
  on a preflight, and a preflight is no work, so auth, idempotency and admission never see it.
  From an origin that is not allowed (or with CORS off) it is a 403 with the JSON error.
- Every other `/api/v2` answer gets its CORS headers from `Cors.decorate`: called by the
  middleware on the answer a view returns, and by a view that sends its headers itself
  (the SSE stream) before it does (`add_cors_headers`). Not an `on_response_prepare` hook:
  a signal on every answer cost the poll path ~7 µs a request (bench/README.md). An
  origin not listed gets no CORS headers at all.
- The allowed methods and request headers, and the exposed response headers, are read
  from the router and each route's `@operation` metadata at start-up (plus the few
  headers the pipeline adds on its own), so they cannot drift from the API.

Allowed origins get `Access-Control-Allow-Credentials: true`; with credentials a browser
refuses `*`, so `*` is refused at start-up: name each origin.

Example::

    cors = Cors.from_settings(settings)       # ValueError on a bad CORS_ALLOWED_ORIGINS
    app = web.Application(middlewares=[api_middleware(verifier, cors, admission)])
    cors.install(app)
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web

from services.gateway.contract.operations import Response, operation_of
from services.gateway.http.errors import error_response
from services.gateway.http.idempotency import REPLAYED
from services.gateway.paths import API
from shared.settings import Settings

PREFIX = API + "/"
# What a browser lets a script read or send without the server's say-so (Fetch standard).
SAFELISTED_RESPONSE = frozenset(
    {"cache-control", "content-language", "content-length", "content-type", "expires"}
    | {"last-modified", "pragma"}
)
SAFELISTED_REQUEST = frozenset({"accept", "accept-language", "content-language"})
# Read by every /api route (auth, JSON bodies, W3C trace context) without being declared.
ALWAYS_ALLOWED = ("Authorization", "Content-Type", "traceparent", "tracestate")
# Set by the pipeline or a view whatever the operation declares: idempotent replays,
# back-pressure, 405, asset downloads.
PIPELINE_HEADERS = (REPLAYED, "Retry-After", "Allow", "Content-Disposition")


def parse_origins(value: str) -> frozenset[str]:
    """The origins of `CORS_ALLOWED_ORIGINS`, each exactly as a browser sends `Origin`."""
    origins = {part.strip() for part in value.split(",") if part.strip()}
    for origin in origins:
        if origin == "*":
            raise ValueError(
                "CORS_ALLOWED_ORIGINS='*' is refused: the API allows credentials, which "
                "browsers accept only for named origins; list each origin instead"
            )
        parts = urlsplit(origin)
        canonical = f"{parts.scheme}://{parts.netloc}".lower()
        try:
            default_port = (parts.scheme, parts.port) in (("http", 80), ("https", 443))
        except ValueError:
            default_port = True  # not a port at all
        if (
            default_port
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
            or origin != canonical
        ):
            raise ValueError(
                f"CORS_ALLOWED_ORIGINS: {origin[:100]!r} is not an origin; write "
                "scheme://host[:port] in lower case, without a default port, path or trailing slash"
            )
    return frozenset(origins)


def _unique(names: Iterable[str], leave_out: frozenset[str] = frozenset()) -> str:
    seen: dict[str, str] = {}
    for name in names:
        if name.lower() not in leave_out:
            seen.setdefault(name.lower(), name)
    return ", ".join(sorted(seen.values(), key=str.lower))


class Cors:
    def __init__(self, origins: frozenset[str], max_age_s: int) -> None:
        self.origins = origins
        self.max_age_s = max_age_s
        self.methods: frozenset[str] = frozenset()
        self.allowed_headers: frozenset[str] = frozenset()  # lower case
        self._allow_methods = ""
        self._allow_headers = ""
        self.expose_headers = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> Cors:
        return cls(parse_origins(settings.cors_allowed_origins), settings.cors_max_age_s)

    def install(self, app: web.Application) -> None:
        """Learn the API from the router at start-up; views that stream find it on the app."""
        app.on_startup.append(self._learn)
        app[CORS] = self

    async def _learn(self, app: web.Application) -> None:
        self.learn(app.router)

    def learn(self, router: web.UrlDispatcher) -> None:
        methods: set[str] = set()
        requested: list[str] = list(ALWAYS_ALLOWED)
        answered: list[str] = list(PIPELINE_HEADERS)
        for route in router.routes():
            if route.resource is None or not route.resource.canonical.startswith(PREFIX):
                continue
            methods.add(route.method)
            op = operation_of(route.handler)
            if op is None:
                continue
            requested += op.headers
            for spec in op.responses.values():
                if isinstance(spec, Response):
                    answered += spec.headers
        self.methods = frozenset(methods)
        self._allow_methods = ", ".join(sorted(methods))
        self.allowed_headers = frozenset(name.lower() for name in requested)
        self._allow_headers = _unique(requested)
        self.expose_headers = _unique(answered, SAFELISTED_RESPONSE)

    def preflight(self, request: web.Request) -> web.Response | None:
        """The answer to a CORS preflight, or None when `request` is not one."""
        if (
            request.method != "OPTIONS"
            or "Access-Control-Request-Method" not in request.headers
            or "Origin" not in request.headers
            or not request.path.startswith(PREFIX)
        ):
            return None
        return self._preflight(request)

    def _preflight(self, request: web.Request) -> web.Response:
        origin = request.headers["Origin"]
        if not self.origins:
            return error_response(
                403,
                "cors_disabled",
                "cross-origin requests are off on this gateway (CORS_ALLOWED_ORIGINS is empty)",
            )
        if origin not in self.origins:
            return error_response(
                403,
                "cors_origin_not_allowed",
                f"origin {origin[:100]!r} may not call this API from a browser "
                "(not in CORS_ALLOWED_ORIGINS)",
            )
        method = request.headers["Access-Control-Request-Method"]
        if method not in self.methods:
            return error_response(
                403,
                "cors_method_not_allowed",
                f"method {method[:20]!r} is not allowed; allowed: {self._allow_methods}",
            )
        asked = request.headers.get("Access-Control-Request-Headers", "")
        refused = sorted(
            name
            for name in (part.strip().lower() for part in asked.split(","))
            if name and name not in self.allowed_headers and name not in SAFELISTED_REQUEST
        )
        if refused:
            return error_response(
                403,
                "cors_header_not_allowed",
                f"request header(s) not allowed: {', '.join(refused)[:200]}",
                {"allowed": self._allow_headers},
            )
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Methods": self._allow_methods,
                "Access-Control-Allow-Headers": self._allow_headers,
                "Access-Control-Max-Age": str(self.max_age_s),
            },
        )

    def decorate(self, request: web.Request, response: web.StreamResponse) -> None:
        """The CORS headers of an `/api/v2` answer, before it is sent."""
        if self.origins and request.path.startswith(PREFIX):
            self.decorate_api(request, response)

    def decorate_api(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """`decorate` for a caller that knows the path is under `/api/v2` (the poll lane)."""
        if not self.origins:
            return
        # Caches must not hand one origin's answer to another.
        vary = response.headers.get("Vary")
        if vary is None:
            response.headers["Vary"] = "Origin"
        elif "origin" not in vary.lower():
            response.headers["Vary"] = f"{vary}, Origin"
        origin = request.headers.get("Origin")
        if origin is None or origin not in self.origins:
            return
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        if self.expose_headers and request.method != "OPTIONS":
            response.headers["Access-Control-Expose-Headers"] = self.expose_headers


CORS: web.AppKey[Cors] = web.AppKey("cors")


def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """For a view that prepares its own answer (the middleware decorates the rest)."""
    cors = request.app.get(CORS)
    if cors is not None:
        cors.decorate(request, response)
