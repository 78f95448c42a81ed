"""The gateway's one error shape: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class UpstreamFailed(ApiError):
    status = 502
    code = "upstream_error"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class Unprocessable(ApiError):
    status = 422
    code = "validation_error"


class BudgetExhausted(ApiError):
    status = 429
    code = "daily_budget_exhausted"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details}}
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as `[{field, message, type}]`, without echoing the input back."""
    return [
        {
            "field": ".".join(str(part) for part in err["loc"]) or "body",
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]


def invalid(exc: ValidationError, what: str = "request body") -> Unprocessable:
    details = validation_details(exc)
    fields = ", ".join(sorted({d["field"] for d in details}))
    return Unprocessable(f"invalid {what}: {fields}", details)
