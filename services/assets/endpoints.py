"""The assets service's words within the one request/reply error contract
(`shared.micro` serves its endpoints as the micro service `$SRV.PING/INFO/STATS.assets`):
a handler refuses by raising `RequestError` with one of `shared.assets.ErrorCode`, which
is answered with the micro status below and an `ErrorReply` body. Every assets reply model
has an optional `error: AssetError` (everything else defaults), so a client parses either
answer as the reply model and checks `error` first.

Example::

    async with await serve_endpoints(nc, "assets", [Endpoint("get", GET, GetRequest,
                                                             GetReply, handlers.on_get)],
                                     ERRORS):
        await stop.wait()
"""

from __future__ import annotations

from shared.micro import Endpoint, ErrorContract, RequestError, serve_endpoints

__all__ = ["ERRORS", "STATUS", "Endpoint", "RequestError", "serve_endpoints"]

STATUS = {
    "invalid_request": "400",
    "not_found": "404",
    "payload_too_large": "413",
    "unsupported_media_type": "415",
    "internal": "500",
}

ERRORS = ErrorContract(
    statuses=STATUS, internal_code="internal", internal_message="{service} {endpoint} failed"
)
