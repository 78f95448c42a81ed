"""Billing's words within the one request/reply error contract (`shared.micro` serves its
endpoints as the micro service `$SRV.PING/INFO/STATS.billing`): a request billing cannot
serve is answered with an `ErrorReply` body (and the micro error headers) instead of the
endpoint's reply model; a handler refuses by raising `RequestError` (`unpriced`: 422).

Example::

    async with await serve_endpoints(bus.nc, "billing", [Endpoint("quote", "billing.quote",
                                     QuoteRequest, Quote, handlers.on_quote)], ERRORS):
        await stop.wait()
"""

from __future__ import annotations

from shared.micro import Endpoint, ErrorContract, RequestError, serve_endpoints

__all__ = ["ERRORS", "Endpoint", "RequestError", "serve_endpoints"]

ERRORS = ErrorContract(internal_code="internal_error", internal_message="{endpoint} failed")
