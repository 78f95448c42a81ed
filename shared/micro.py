"""Request/reply endpoints as a NATS micro service (`$SRV.PING/INFO/STATS.<service>` for
discovery and per-endpoint stats), for every service that answers requests.

An endpoint is a typed handler: the request body is validated at the edge into its
request model, the handler returns its reply model, and that is sent back. A request that
cannot be served is answered, never left to time out, under one error contract: a
`Failure` (micro status, code, message, details) sets the micro error headers
(`Nats-Service-Error-Code` = status, `Nats-Service-Error` = the message on one line), and
the body is the service's own error reply, built by its `ErrorContract`. A failure is
one of:

- the body does not validate: status 400, code `invalid_request`;
- the handler raises `RequestError` (understood, but cannot be served; 422 by default);
- the handler crashes: status 500, the contract's internal code (logged with its trace);
- the handler returns a reply that carries a refusal (`ErrorContract.refusal`): that
  reply is the body, as is.

Example::

    ERRORS = ErrorContract(reply=lambda failure, reply_type: ErrorReply(...))
    endpoints = [Endpoint("quote", "billing.quote", QuoteRequest, Quote, handlers.on_quote)]
    async with await serve_endpoints(bus.nc, "billing", endpoints, ERRORS):
        await stop.wait()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Failure:
    """Why a request was not served: `status` is the micro error code (HTTP-like)."""

    status: str
    code: str
    message: str
    details: Any = None


class RequestError(Exception):
    """A request the service understood but cannot serve (e.g. a backend it has no prices
    for); raised by a handler, answered as a `Failure`."""

    def __init__(self, code: str, message: str, status: str = "422") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    @property
    def failure(self) -> Failure:
        return Failure(self.status, self.code, self.message)


def _no_refusal(reply: BaseModel) -> Failure | None:
    return None


@dataclass(frozen=True)
class ErrorContract:
    """How one service answers a request it cannot serve.

    `reply` builds the error body from the failure and the endpoint's reply model;
    `refusal` reads a refusal a handler returned inside its reply (None: served);
    a crash answers `internal_code` with `internal_message` (formatted with `service` and
    `endpoint`)."""

    reply: Callable[[Failure, type[BaseModel]], BaseModel]
    refusal: Callable[[BaseModel], Failure | None] = _no_refusal
    internal_code: str = "internal"
    internal_message: str = "{endpoint} failed"


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
            reply: BaseModel
            failure: Failure | None
            try:
                body = endpoint.request_type.model_validate_json(request.data)
            except ValidationError as exc:
                details = exc.errors(include_url=False, include_input=False)
                failure = Failure("400", "invalid_request", "invalid request body", details)
                reply = errors.reply(failure, endpoint.reply_type)
            else:
                try:
                    reply = await endpoint.handler(body)
                except RequestError as exc:
                    failure = exc.failure
                    reply = errors.reply(failure, endpoint.reply_type)
                except Exception:
                    log.exception("request.failed", extra={"subject": endpoint.subject})
                    message = errors.internal_message.format(
                        service=service, endpoint=endpoint.name
                    )
                    failure = Failure("500", errors.internal_code, message)
                    reply = errors.reply(failure, endpoint.reply_type)
                else:
                    failure = errors.refusal(reply)
            await respond(request, reply, failure)

    return handle


async def respond(request: Request, reply: BaseModel, failure: Failure | None) -> None:
    data = reply.model_dump_json().encode()
    if failure is None:
        await request.respond(data)
        return
    # Header values cannot hold line breaks; the body keeps the message whole.
    description = " ".join(failure.message.split())[:MAX_DESCRIPTION]
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
