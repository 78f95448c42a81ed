"""The assets service's side of the request/reply contract (`shared.micro` serves it as
the micro service `$SRV.PING/INFO/STATS.assets`). Every reply model has an optional
`error: AssetError`: a refusal is the handler's own reply with `error` set, and a request
that fails (invalid body, crash) is answered with the endpoint's reply model holding only
`error`; the micro error code comes from the error code (`STATUS`).

Example::

    async with await serve_endpoints(nc, "assets", [Endpoint("get", GET, GetRequest,
                                                             GetReply, handlers.on_get)],
                                     ERRORS):
        await stop.wait()
"""

from __future__ import annotations

from pydantic import BaseModel

from shared.assets import AssetError
from shared.micro import Endpoint, ErrorContract, Failure, serve_endpoints

__all__ = ["ERRORS", "STATUS", "Endpoint", "serve_endpoints"]

STATUS = {
    "invalid_request": "400",
    "not_found": "404",
    "payload_too_large": "413",
    "unsupported_media_type": "415",
    "internal": "500",
}


def error_reply(failure: Failure, reply_type: type[BaseModel]) -> BaseModel:
    error = AssetError.model_validate(
        {"code": failure.code, "message": failure.message, "details": failure.details}
    )
    return reply_type(error=error)


def refusal(reply: BaseModel) -> Failure | None:
    error: AssetError | None = getattr(reply, "error", None)
    if error is None:
        return None
    return Failure(STATUS.get(error.code, "500"), error.code, error.message, error.details)


ERRORS = ErrorContract(
    reply=error_reply,
    refusal=refusal,
    internal_code="internal",
    internal_message="{service} {endpoint} failed",
)
