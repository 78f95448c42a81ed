"""OpenAPI metadata attached to view functions; the document is generated from it.

Every route handler is decorated with `@operation(...)`, naming the pydantic models
that validate its request and shape its responses, so the document cannot drift from
the code. Example::

    @operation(summary="Create a job", tags=("jobs",), request=GenerationRequest,
               responses={202: JobView, 422: ERROR})
    async def create_job(request: web.Request) -> web.Response: ...
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

Handler = TypeVar("Handler", bound=Callable[..., Any])
ERROR = "error"  # a response documented with the shared error schema


@dataclass(frozen=True)
class Operation:
    summary: str
    tags: tuple[str, ...] = ()
    request: type[BaseModel] | None = None
    # `multipart/form-data`, `application/octet-stream`, ... when the body is not JSON.
    request_content_type: str = "application/json"
    query: type[BaseModel] | None = None
    # status -> pydantic model | ERROR | a media type such as "video/mp4" | None (no body)
    responses: Mapping[int, Any] = field(default_factory=dict)
    auth: bool = True
    description: str = ""


def operation(**kwargs: Any) -> Callable[[Handler], Handler]:
    """Attach `Operation(**kwargs)` to a view function."""
    meta = Operation(**kwargs)

    def attach(handler: Handler) -> Handler:
        handler.__openapi__ = meta  # type: ignore[attr-defined]
        return handler

    return attach


def operation_of(handler: Any) -> Operation | None:
    return getattr(handler, "__openapi__", None)
