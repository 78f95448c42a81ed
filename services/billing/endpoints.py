"""Billing's side of the request/reply contract (`shared.micro` serves it as the micro
service `$SRV.PING/INFO/STATS.billing`): a request billing cannot serve is answered with
an `ErrorReply` body (and the micro error headers) instead of the endpoint's reply model;
a handler refuses by raising `RequestError`.

Example::

    async with await serve_endpoints(bus.nc, "billing", [Endpoint("quote", "billing.quote",
                                     QuoteRequest, Quote, handlers.on_quote)], ERRORS):
        await stop.wait()
"""

from __future__ import annotations

from pydantic import BaseModel

from shared.billing import ErrorBody, ErrorReply
from shared.micro import Endpoint, ErrorContract, Failure, RequestError, serve_endpoints

__all__ = ["ERRORS", "Endpoint", "RequestError", "serve_endpoints"]


def error_reply(failure: Failure, reply_type: type[BaseModel]) -> BaseModel:
    """`ErrorReply`, whatever the endpoint's reply model."""
    return ErrorReply(
        error=ErrorBody(code=failure.code, message=failure.message, details=failure.details)
    )


ERRORS = ErrorContract(
    reply=error_reply, internal_code="internal_error", internal_message="{endpoint} failed"
)
