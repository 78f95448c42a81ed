"""Request/reply endpoints as a NATS micro service (`$SRV.PING/INFO/STATS.<service>` for
discovery and per-endpoint stats), for every service that answers requests.

An endpoint is a typed handler: the request body is validated at the edge into its
request model, the handler returns its reply model, and that is sent back. A request that
cannot be served is answered, never left to time out, under one error contract for every
service: the micro error headers (`Nats-Service-Error-Code` = a status, HTTP-like;
`Nats-Service-Error` = the message on one line) and an `ErrorReply` body,
`{"error": {"code", "message", "details"}}`. A failure is one of:

- the body does not validate: status 400, code `invalid_request`, the fields as details;
- the handler raises `RequestError` (understood, but cannot be served): its code, with the
  status the service's `ErrorContract` gives that code (422 when it names none);
- the handler crashes: status 500, the contract's internal code (logged with its trace).

A reply model may carry the same `error` field (defaulting everything else), so a client
can parse either answer as the reply model and check `error` first.

Example::

    ERRORS = ErrorContract(statuses={"not_found": "404"})
    endpoints = [Endpoint("quote", "billing.quote", QuoteRequest, Quote, handlers.on_quote)]
    async with await serve_endpoints(bus.nc, "billing", endpoints, ERRORS):
        await stop.wait()
    # in a handler:  raise RequestError("not_found", f"asset {asset_id} not found")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from nats import micro
from nats.aio.client import Client as NATS
from nats.micro.request import Handler, Request
from nats.micro.service import Service
from pydantic import BaseModel, ValidationError

from shared.logging import get_logger
from shared.tracing import server_span

log = get_logger(__name__)

Q = TypeVar("Q", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)

# The longest `Nats-Service-Error` header sent; the body keeps the whole message.
MAX_DESCRIPTION = 500


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorReply(BaseModel):
    """What a service answers instead of the reply model when it cannot serve a request."""

    error: ErrorBody


@dataclass(frozen=True)
class Failure:
    """Why a request was not served: `status` is the micro error code (HTTP-like)."""

    status: str
    code: str
    message: str
    details: Any = None

    def reply(self) -> ErrorReply:
        return ErrorReply(
            error=ErrorBody(code=self.code, message=self.message, details=self.details)
        )


class RequestError(Exception):
    """A request the service understood but cannot serve (e.g. a backend it has no prices
    for, an asset that does not exist); raised by a handler, answered as a `Failure` with
    `status`, or the status the service's contract gives `code`."""

    def __init__(self, code: str, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ErrorContract:
    """A service's words within the one error contract: the status of each of its
    `RequestError` codes (422 for any other), and the code and message a crash is
    answered with (`internal_message` is formatted with `service` and `endpoint`)."""

    statuses: Mapping[str, str] = field(default_factory=dict)
    internal_code: str = "internal"
    internal_message: str = "{endpoint} failed"

    def refused(self, exc: RequestError) -> Failure:
        status = exc.status or self.statuses.get(exc.code, "422")
        return Failure(status, exc.code, exc.message)

    def crashed(self, service: str, endpoint: str) -> Failure:
        message = self.internal_message.format(service=service, endpoint=endpoint)
        return Failure("500", self.internal_code, message)


@dataclass(frozen=True)
class Endpoint(Generic[Q, P]):
    name: str
    subject: str
    request_type: type[Q]
    reply_type: type[P]
    handler: Callable[[Q], Awaitable[P]]


def adapt(endpoint: Endpoint[Any, Any], service: str, errors: ErrorContract) -> Handler:
    """The micro handler of `endpoint`: validate, call, answer (see the module doc)."""

    async def handle(request: Request) -> None:
        with server_span(f"request {endpoint.subject}", request.headers, service):
            try:
                body = endpoint.request_type.model_validate_json(request.data)
            except ValidationError as exc:
                # No context: a validator's exception object in it cannot be serialised.
                details = exc.errors(include_url=False, include_input=False, include_context=False)
                await respond_error(
                    request, Failure("400", "invalid_request", "invalid request body", details)
                )
                return
            try:
                reply = await endpoint.handler(body)
            except RequestError as exc:
                await respond_error(request, errors.refused(exc))
            except Exception:
                log.exception("request.failed", extra={"subject": endpoint.subject})
                await respond_error(request, errors.crashed(service, endpoint.name))
            else:
                await request.respond(reply.model_dump_json().encode())

    return handle


async def respond_error(request: Request, failure: Failure) -> None:
    # Header values cannot hold line breaks; the body keeps the message whole.
    description = " ".join(failure.message.split())[:MAX_DESCRIPTION]
    data = failure.reply().model_dump_json().encode()
    await request.respond_error(failure.status, description, data=data)


async def serve_endpoints(
    nc: NATS,
    service: str,
    endpoints: Sequence[Endpoint[Any, Any]],
    errors: ErrorContract,
    version: str = "1.0.0",
) -> Service:
    """Register `endpoints` as the micro service `service`; stop it (or `async with` it)
    before draining the connection."""
    svc = await micro.add_service(nc, name=service, version=version, queue_group=service)
    for endpoint in endpoints:
        await svc.add_endpoint(
            name=endpoint.name, subject=endpoint.subject, handler=adapt(endpoint, service, errors)
        )
    return svc
