"""Error responses as the real API sends them: problem+json (RFC 7807), or a proxy's HTML."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

PROBLEM_JSON = "application/problem+json"
REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def problem(
    status: int, title: str | None, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    body: dict[str, Any] = {"title": title, "detail": detail, "status": status, **extra}
    if title is None:
        body.pop("title")
    return web.Response(
        status=status, text=json.dumps(body), content_type=PROBLEM_JSON, headers=headers
    )


def unauthenticated() -> web.Response:
    return problem(401, "Unauthenticated", "You did not pass a valid authentication token")


def insufficient_credit() -> web.Response:
    return problem(
        402,
        "Insufficient credit",
        "You have insufficient credit to run this model. Go to "
        "https://replicate.com/account/billing#billing to purchase credit. Once you purchase "
        "credit, please wait a few minutes before trying again.",
    )


def not_found(detail: str = "Not found.") -> web.Response:
    return problem(404, "Not found", detail)


def invalid_version() -> web.Response:
    return problem(
        422,
        "Invalid version or not permitted",
        "The specified version does not exist (or perhaps you don't have permission to use it?)",
    )


def throttled(retry_after_s: int) -> web.Response:
    return problem(
        429,
        None,
        f"Request was throttled. Your rate limit resets in ~{retry_after_s}s.",
        headers={"Retry-After": str(retry_after_s)},
        retry_after=retry_after_s,
    )


def server_error(status: int, html: bool) -> web.Response:
    reason = REASONS.get(status, "Server Error")
    if html:
        page = (
            f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        return web.Response(status=status, text=page, content_type="text/html")
    return problem(status, reason, "An unexpected error occurred. Please try again.")
