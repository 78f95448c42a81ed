"""One middleware: authenticate `/api/` requests and turn every failure into the
JSON error shape (kept to one so the polling hot path pays for one call)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from services.gateway.auth import Principal, TokenVerifier
from services.gateway.errors import ApiError, error_response
from shared.logging import get_logger

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


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def api_middleware(verifier: TokenVerifier) -> web.typedefs.Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            if request.path.startswith("/api/"):
                request[PRINCIPAL] = verifier.verify(request.headers.get("Authorization"))
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = (
                exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
            )
            return error_response(exc.status, _CODES.get(exc.status, "error"), message)
        except Exception:
            log.exception("http.unhandled_error", extra={"path": request.path})
            return error_response(500, "internal", "internal error; the failure was logged")

    return middleware
