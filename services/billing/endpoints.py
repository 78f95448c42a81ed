"""Request/reply endpoints as a NATS micro service (`$SRV.PING/INFO/STATS.billing` for
discovery and per-endpoint stats). Each endpoint is a typed handler: the request body is
validated at the edge, the reply model is sent back, and a failure answers an
`ErrorReply` body (with the micro error headers) instead of leaving the caller to time out.

Example::

    async with await serve_endpoints(bus.nc, "billing", [Endpoint("quote", "billing.quote",
                                                           QuoteRequest, handlers.on_quote)]):
        await stop.wait()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nats import micro
from nats.aio.client import Client as NATS
from nats.micro.request import Request
from nats.micro.service import Service
from pydantic import BaseModel, ValidationError

from shared.billing import ErrorBody, ErrorReply
from shared.logging import get_logger
from shared.tracing import server_span

log = get_logger(__name__)

R = TypeVar("R", bound=BaseModel)


class RequestError(Exception):
    """A request billing understood but cannot serve (e.g. a backend it has no prices for)."""

    def __init__(self, code: str, message: str, status: str = "422") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Endpoint(Generic[R]):
    name: str
    subject: str
    request_type: type[R]
    handler: Callable[[R], Awaitable[BaseModel]]

    async def __call__(self, request: Request) -> None:
        with server_span(f"request {self.subject}", request.headers, "billing"):
            try:
                body = self.request_type.model_validate_json(request.data)
            except ValidationError as exc:
                details = exc.errors(include_url=False, include_input=False)
                await _fail(request, "400", "invalid_request", "invalid request body", details)
                return
            try:
                reply = await self.handler(body)
            except RequestError as exc:
                await _fail(request, exc.status, exc.code, exc.message)
                return
            except Exception:
                log.exception("request.failed", extra={"subject": self.subject})
                await _fail(request, "500", "internal_error", f"{self.name} failed")
                return
            await request.respond(reply.model_dump_json().encode())


async def _fail(
    request: Request, status: str, code: str, message: str, details: Any = None
) -> None:
    body = ErrorReply(error=ErrorBody(code=code, message=message, details=details))
    await request.respond_error(status, message, data=body.model_dump_json().encode())


async def serve_endpoints(
    nc: NATS, service: str, endpoints: Sequence[Endpoint[Any]], version: str = "1.0.0"
) -> Service:
    """Register `endpoints` as the micro service `service`; stop it (or `async with` it)
    before draining the connection."""
    svc = await micro.add_service(nc, name=service, version=version, queue_group=service)
    for endpoint in endpoints:
        await svc.add_endpoint(name=endpoint.name, subject=endpoint.subject, handler=endpoint)
    return svc
