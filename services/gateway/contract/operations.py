"""OpenAPI metadata attached to view functions; the document is generated from it
(`services/gateway/contract/document.py`).

Every route handler is decorated with `@operation(...)`, naming the pydantic models
that validate its request and shape its responses, so the document cannot drift from
the code. Example::

    @operation(summary="Create a job", tags=("jobs",), request=GenerationRequest,
               request_example={"campaign_id": "spring", ...},
               responses={202: Response(Job, headers={"Location": "The job's URL"}),
                          404: ERROR})
    async def create_job(request: web.Request) -> web.Response: ...

A response value is a pydantic model, `ERROR` (the shared error schema), a media type
such as `"video/mp4"` (or a tuple of them), an `EventStream` (server-sent events),
`None` (no body), or a `Response` when it needs a description or headers. `401` (for
`auth=True`) and, for JSON request bodies, `400`/`413`/`422` are added by the generator:
every such operation can answer them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel

Handler = TypeVar("Handler", bound=Callable[..., Any])
ERROR = "error"  # a response documented with the shared error schema
IDEMPOTENCY_HEADER = "Idempotency-Key"
MULTIPART = "multipart/form-data"
# What the back-pressure checks (http/admission.py) ask of an operation: `create` starts
# a new job (the client's token bucket and queued-jobs bound), `enqueue` puts an existing
# job back in front of the workers (the queued-jobs bound).
Admission = Literal["create", "enqueue"]


@dataclass(frozen=True)
class Header:
    """A request header the operation reads, or a response header it sets."""

    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True)
class EventStream:
    """A `text/event-stream` body whose events are named `event` and carry `data` as JSON."""

    event: str
    data: type[BaseModel]


@dataclass(frozen=True)
class Response:
    """A documented response: `body` as in `Operation.responses`, plus its headers."""

    body: Any = None
    description: str = ""
    # name -> description (a string header) or a `Header`
    headers: Mapping[str, str | Header] = field(default_factory=dict)
    # OpenAPI links: what to call next with this answer, as
    # operationId -> {parameter: runtime expression such as "$response.body#/id"}.
    links: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    summary: str
    tags: tuple[str, ...] = ()
    request: type[BaseModel] | None = None
    # `multipart/form-data`, `application/octet-stream`, ... when the body is not JSON.
    request_content_type: str = "application/json"
    query: type[BaseModel] | None = None
    # status -> pydantic model | ERROR | a media type such as "video/mp4" | None (no body)
    #           | a tuple of media types | Response(...)
    responses: Mapping[int, Any] = field(default_factory=dict)
    auth: bool = True
    # Also accepts a media token as `?access_token=` (GET of videos, frames, files).
    media_token: bool = False
    description: str = ""
    # A request body the docs show and "try it" starts from; tests check the model takes it.
    request_example: Any = None
    # Request headers the operation reads (If-None-Match, Range, ...).
    headers: Mapping[str, str | Header] = field(default_factory=dict)
    # Descriptions of path parameters, by name (defaults cover job_id, n, asset_id).
    path_params: Mapping[str, str] = field(default_factory=dict)
    operation_id: str | None = None
    # Back-pressure before the view runs (see `Admission`); None for everything else.
    admission: Admission | None = None
    # False for the requests answered from memory thousands of times a second (polls,
    # probes, scrapes): a span each would cost more than the answer; they get metrics only.
    traced: bool = True

    @property
    def idempotent(self) -> bool:
        """Replays its first answer for a repeated `Idempotency-Key` (http/idempotency.py)."""
        return IDEMPOTENCY_HEADER in self.headers

    @property
    def uploads(self) -> bool:
        """Streams a multipart upload (its idempotency fingerprint is the file's hash)."""
        return self.request_content_type == MULTIPART


def operation(**kwargs: Any) -> Callable[[Handler], Handler]:
    """Attach `Operation(**kwargs)` to a view function."""
    meta = Operation(**kwargs)

    def attach(handler: Handler) -> Handler:
        handler.__openapi__ = meta  # type: ignore[attr-defined]
        return handler

    return attach


def operation_of(handler: Any) -> Operation | None:
    return getattr(handler, "__openapi__", None)


def route_operation(request: web.Request) -> Operation | None:
    """The metadata of the view the request was routed to (None for an unmatched path).
    Middlewares read it instead of matching path strings."""
    return operation_of(request.match_info.handler)


# Files are served with aiohttp's FileResponse: Range (206/416), ETag and Last-Modified
# (304), If-Match / If-Unmodified-Since (412).
FILE_REQUEST_HEADERS = {
    "Range": "A byte range, e.g. `bytes=0-1023`, so players can seek.",
    "If-None-Match": "The ETag of a copy you have: 304 when it is still current.",
    "If-Modified-Since": "The Last-Modified of a copy you have: 304 when not modified.",
}
FILE_HEADERS = {
    "Accept-Ranges": "`bytes`.",
    "ETag": "Version of the file.",
    "Last-Modified": "When the file was written.",
}


def file_responses(*media: str) -> dict[int, Any]:
    """The answers of a file served with aiohttp's FileResponse, as `responses`."""
    return {
        200: Response(media, "The whole file.", headers=FILE_HEADERS),
        206: Response(
            media, "The requested range.", headers={**FILE_HEADERS, "Content-Range": "The range."}
        ),
        304: Response(None, "Not modified.", headers={"ETag": "Version of the file."}),
        404: ERROR,
        412: None,
        416: Response(None, headers={"Content-Range": "`bytes */<size>`."}),
    }


# The request header of the operations that replay their first answer for a repeated key.
IDEMPOTENCY_KEY = {
    IDEMPOTENCY_HEADER: Header(
        "Send the same key again with the same body to get the first answer back instead of "
        "doing the work twice; the same key with another body is a 409. Keys last 24 h."
    )
}
