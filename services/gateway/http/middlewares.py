"""One middleware: authenticate `/api/` requests, turn every failure into the JSON
error shape, and measure each request (kept to one so the polling hot path pays for one
call): a count and latency by route template and status, and a server span."""

from __future__ import annotations

import asyncio
from time import perf_counter

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_urldispatcher import AbstractRoute
from opentelemetry.trace import StatusCode

from services.gateway.contract.operations import operation_of
from services.gateway.http.access import query_principal
from services.gateway.http.auth import Principal, TokenVerifier
from services.gateway.http.errors import ApiError, error_response
from shared.logging import get_logger
from shared.metrics import HTTP_REQUESTS
from shared.tracing import server_span

log = get_logger(__name__)

PRINCIPAL = web.RequestKey("principal", Principal)
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}


UNMATCHED = "unmatched"
CLIENT_CLOSED = 499


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def _describe(route: AbstractRoute) -> tuple[str, bool, bool | None]:
    """A route's template (never the raw path: job ids must not become label values),
    whether its requests get a span, and whether they must be authenticated: as its
    operation says (`auth`), or None for an unknown path (under /api/ it is answered 401
    before 404: a 404 would tell a caller without a token what exists)."""
    template = route.resource.canonical if route.resource is not None else UNMATCHED
    op = operation_of(route.handler)
    return template, op is None or op.traced, None if op is None else op.auth


def api_middleware(verifier: TokenVerifier) -> Middleware:
    # Matched routes live as long as the app: the hot path pays one dict lookup for them.
    routes: dict[AbstractRoute, tuple[str, bool, bool | None]] = {}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = perf_counter()
        matched = request.match_info.route
        known = routes.get(matched)
        if known is None:
            known = _describe(matched)
            if matched.resource is not None:  # a 404's route is new on every request
                routes[matched] = known
        route, traced, auth = known
        if auth is None:
            auth = request.path.startswith("/api/")
        status = 500
        try:
            if not traced:
                response = await answer(request, handler, auth)
            else:
                with server_span(
                    f"{request.method} {route}",
                    request.headers,
                    "gateway",
                    **{"http.request.method": request.method, "http.route": route},
                ) as span:
                    span.set_attribute("url.path", request.path)
                    response = await answer(request, handler, auth)
                    span.set_attribute("http.response.status_code", response.status)
                    if response.status >= 500:
                        span.set_status(StatusCode.ERROR)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            HTTP_REQUESTS.observe(route, request.method, status, perf_counter() - started)

    async def answer(request: web.Request, handler: Handler, auth: bool) -> web.StreamResponse:
        try:
            if auth:
                # Media GETs may carry a media token in the query (<video> sends no header).
                request[PRINCIPAL] = query_principal(request) or verifier.verify(
                    request.headers.get("Authorization")
                )
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = (
                exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
            )
            # A 405 must say what is allowed (RFC 9110); aiohttp put it in `Allow`.
            allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return error_response(exc.status, _CODES.get(exc.status, "error"), message, None, allow)
        except Exception:
            log.exception("http.unhandled_error", extra={"path": request.path})
            return error_response(500, "internal", "internal error; the failure was logged")

    return middleware
