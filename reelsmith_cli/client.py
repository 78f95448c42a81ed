"""The gateway's HTTP API for the command line: one `httpx.Client`, errors turned into
`CliError`s that carry the exit code.

Exit codes: 0 ok, 2 usage or client error (4xx), 3 server error or gateway unreachable
(5xx, connection, timeout), 4 the job failed or was canceled, 5 `checks` found errors
nobody accepted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

EXIT_OK = 0
EXIT_CLIENT = 2
EXIT_SERVER = 3
EXIT_JOB = 4
EXIT_CHECKS = 5

DEFAULT_URL = "http://127.0.0.1:8080"
API = "/api/v2"
REQUEST_TIMEOUT_S = 30.0
UPLOAD_TIMEOUT_S = 600.0


class CliError(Exception):
    """A failure to report: its message for people, its error body for `--json`."""

    def __init__(self, exit_code: int, message: str, error: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message
        self.error = error or {"code": "cli_error", "message": message, "details": None}


def error_from(response: httpx.Response) -> CliError:
    """The gateway's `{"error": {code, message, details}}` as a CliError (4xx → 2, else 3)."""
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code = "http_error"
        message = response.reason_phrase or "request failed"
        error = {"code": code, "message": message, "details": None}
    exit_code = EXIT_CLIENT if response.status_code < 500 else EXIT_SERVER
    text = f"{response.status_code} {code}: {message}"
    if response.status_code == 401:
        text += " (pass --token or set REELSMITH_TOKEN; `reelsmith token` makes one)"
    if retry_after := response.headers.get("Retry-After"):
        text += f" (retry after {retry_after} s)"
    return CliError(exit_code, text, {**error, "status": response.status_code})


class Api:
    def __init__(self, base_url: str, token: str | None, timeout_s: float = REQUEST_TIMEOUT_S):
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "reelsmith-cli/1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def unreachable(self, exc: httpx.TransportError) -> CliError:
        # The exception text never carries the token (it is a header, not in the URL).
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "is unreachable"
        return CliError(
            EXIT_SERVER,
            f"the gateway at {self.base_url} {kind} ({exc.__class__.__name__}); is it running?"
            " (`make run`, or --url / REELSMITH_URL)",
            {"code": "unreachable", "message": f"gateway {kind}", "details": None},
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A response below 400 (304 included); anything else raises CliError."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None
        if response.status_code >= 400:
            raise error_from(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self.http.stream(method, path, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from(response)
                yield response
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None

    def download(self, path: str, target: Path, params: dict[str, Any] | None = None) -> int:
        """Stream `path` into `target` (via a temporary name: never a half file); bytes."""
        partial = target.with_name(target.name + ".part")
        written = 0
        try:
            with self.stream("GET", path, params=params) as response, partial.open("wb") as out:
                for chunk in response.iter_bytes(256 * 1024):
                    out.write(chunk)
                    written += len(chunk)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return written


def job_path(job_id: str, *rest: str) -> str:
    return "/".join([f"{API}/jobs/{job_id}", *rest])
