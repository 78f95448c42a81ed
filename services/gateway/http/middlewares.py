"""The gateway's one middleware: CORS preflights, authentication of `/api/` requests,
idempotent replays and back-pressure where the route's `@operation` asks for them, the
JSON error shape for every failure, and a count, latency and server span per request.

One middleware rather than a chain, and each route's plan worked out once: a poll (the
hottest request there is) pays for the token check, its view and its metrics, and for
nothing its operation does not use — no idempotency lookup, no admission check, no
media-token parse, no extra coroutine per layer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from time import perf_counter

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_urldispatcher import AbstractRoute
from opentelemetry.trace import StatusCode

from services.gateway.contract.operations import Admission, operation_of
from services.gateway.http.access import query_principal
from services.gateway.http.admission import JobAdmission, admit
from services.gateway.http.auth import PRINCIPAL, TokenVerifier, principal_of
from services.gateway.http.cors import Cors
from services.gateway.http.errors import ApiError, error_response
from services.gateway.http.idempotency import idempotent
from shared.logging import get_logger
from shared.metrics import HTTP_REQUESTS
from shared.tracing import server_span

__all__ = ["PRINCIPAL", "RoutePlan", "api_middleware", "plan_of", "principal_of"]

log = get_logger(__name__)

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


@dataclass(frozen=True)
class RoutePlan:
    """What the middleware does for one route, read once from its `@operation`."""

    template: str  # the metric label and span name (never the raw path: ids are unbounded)
    traced: bool
    # None for a path no route knows: under /api/ it is answered 401 before 404, since a
    # 404 would tell a caller without a token what exists.
    auth: bool | None
    media_token: bool
    idempotent: bool
    uploads: bool
    admission: Admission | None


def plan_of(route: AbstractRoute) -> RoutePlan:
    template = route.resource.canonical if route.resource is not None else UNMATCHED
    op = operation_of(route.handler)
    if op is None:
        return RoutePlan(template, True, None, False, False, False, None)
    return RoutePlan(
        template, op.traced, op.auth, op.media_token, op.idempotent, op.uploads, op.admission
    )


def api_middleware(
    verifier: TokenVerifier, cors: Cors | None = None, admission: JobAdmission | None = None
) -> Middleware:
    # Matched routes live as long as the app: the hot path pays one dict lookup for them.
    plans: dict[AbstractRoute, RoutePlan] = {}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS" and cors is not None:
            preflight = cors.preflight(request)
            if preflight is not None:
                cors.decorate(request, preflight)
                return preflight
        started = perf_counter()
        matched = request.match_info.route
        plan = plans.get(matched)
        if plan is None:
            plan = plan_of(matched)
            if matched.resource is not None:  # a 404's route is new on every request
                plans[matched] = plan
        status = 500
        try:
            if not plan.traced:
                response = await answer(request, handler, plan)
            else:
                route = plan.template
                with server_span(
                    f"{request.method} {route}",
                    request.headers,
                    "gateway",
                    **{"http.request.method": request.method, "http.route": route},
                ) as span:
                    span.set_attribute("url.path", request.path)
                    response = await answer(request, handler, plan)
                    span.set_attribute("http.response.status_code", response.status)
                    if response.status >= 500:
                        span.set_status(StatusCode.ERROR)
            status = response.status
            if cors is not None and not response.prepared:
                cors.decorate(request, response)
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED
            raise
        finally:
            HTTP_REQUESTS.observe(plan.template, request.method, status, perf_counter() - started)

    async def answer(request: web.Request, handler: Handler, plan: RoutePlan) -> web.StreamResponse:
        try:
            auth = plan.auth if plan.auth is not None else request.path.startswith("/api/")
            if auth:
                # Media GETs may carry a media token in the query (<video> sends no header).
                principal = await query_principal(request) if plan.media_token else None
                request[PRINCIPAL] = principal or await verifier.verify(
                    request.headers.get("Authorization")
                )
            if plan.idempotent:
                return await idempotent(request, guarded(handler, plan), plan.uploads)
            if plan.admission is not None:
                return await guarded(handler, plan)(request)
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

    def guarded(handler: Handler, plan: RoutePlan) -> Handler:
        """`handler` behind the route's back-pressure checks (after an idempotent replay is
        ruled out: a replay is neither rate limited nor counted)."""
        kind = plan.admission
        if kind is None or admission is None:
            return handler
        checks = admission

        async def admitted(request: web.Request) -> web.StreamResponse:
            await admit(checks, request, kind)
            return await handler(request)

        return admitted

    return middleware
