"""Request/reply endpoints as a NATS micro service (`$SRV.PING/INFO/STATS.assets`). The
request body is validated at the edge; the handler returns its reply model, whose
`error` field carries a refusal; a crash answers `internal` instead of a caller timeout.

Example::

    async with await serve_endpoints(nc, "assets", [Endpoint("get", GET, GetRequest,
                                                             GetReply, handlers.on_get)]):
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

from shared.assets import AssetError
from shared.logging import get_logger
from shared.tracing import server_span

log = get_logger(__name__)

Q = TypeVar("Q", bound=BaseModel)
STATUS = {
    "invalid_request": "400",
    "not_found": "404",
    "payload_too_large": "413",
    "unsupported_media_type": "415",
    "internal": "500",
}


@dataclass(frozen=True)
class Endpoint(Generic[Q]):
    name: str
    subject: str
    request_type: type[Q]
    reply_type: type[BaseModel]  # a model with an optional `error: AssetError`
    handler: Callable[[Q], Awaitable[BaseModel]]

    async def __call__(self, request: Request) -> None:
        with server_span(f"request {self.subject}", request.headers, "assets"):
            try:
                body = self.request_type.model_validate_json(request.data)
            except ValidationError as exc:
                details = exc.errors(include_url=False, include_input=False)
                error = AssetError(
                    code="invalid_request", message="invalid request body", details=details
                )
                await _respond(request, self.reply_type(error=error))
                return
            try:
                reply = await self.handler(body)
            except Exception:
                log.exception("request.failed", extra={"subject": self.subject})
                error = AssetError(code="internal", message=f"assets {self.name} failed")
                reply = self.reply_type(error=error)
            await _respond(request, reply)


async def _respond(request: Request, reply: BaseModel) -> None:
    data = reply.model_dump_json().encode()
    error: AssetError | None = getattr(reply, "error", None)
    if error is None:
        await request.respond(data)
        return
    # Header values cannot hold line breaks; the body keeps the message whole.
    description = " ".join(error.message.split())[:500]
    await request.respond_error(STATUS.get(error.code, "500"), description, data=data)


async def serve_endpoints(
    nc: NATS, service: str, endpoints: Sequence[Endpoint[Any]], version: str = "1.0.0"
) -> Service:
    """Register `endpoints` as the micro service `service`; stop it (or `async with` it)
    before draining the connection."""
    svc = await micro.add_service(nc, name=service, version=version, queue_group=service)
    for endpoint in endpoints:
        await svc.add_endpoint(name=endpoint.name, subject=endpoint.subject, handler=endpoint)
    return svc
