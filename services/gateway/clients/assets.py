"""The gateway's client of the assets service (request/reply on core NATS). Its failures
are already HTTP errors: 503 when the service cannot be reached or is too slow, 502 when
its answer is unreadable or a failure of its own, and the refusals it reports (415, 413,
404) as themselves.

Example::

    asset = await ingest(bus, IngestRequest(asset_id=..., temp_key=..., ...))
    found, missing = await find_assets(bus, "client-a", ["ab12..."])
    reply = await ask(bus, LIST, ListRequest(client_id="client-a"), ListReply, QUERY_TIMEOUT_S)
    if reply.error is not None:
        raise api_error(reply.error)
"""

from __future__ import annotations

from typing import TypeVar, cast

import nats.errors
from pydantic import BaseModel, ValidationError

from services.gateway.http.errors import (
    ApiError,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UnsupportedMediaType,
    UpstreamFailed,
)
from shared.assets import (
    DELETE,
    GET,
    INGEST,
    INGEST_TIMEOUT_S,
    QUERY_TIMEOUT_S,
    Asset,
    AssetError,
    AssetReply,
    DeleteReply,
    DeleteRequest,
    GetReply,
    GetRequest,
    IngestRequest,
)
from shared.bus import Bus
from shared.logging import get_logger

log = get_logger(__name__)

R = TypeVar("R", bound=BaseModel)
UNAVAILABLE = "the assets service is unavailable; nothing was stored, try again shortly"


class AssetsTimedOut(Unavailable):
    """The assets service did not answer in time (it may still act on the request)."""


async def ingest(bus: Bus, body: IngestRequest) -> Asset:
    """Have the assets service validate the stored upload and register it."""
    try:
        reply = await ask(bus, INGEST, body, AssetReply, INGEST_TIMEOUT_S)
    except AssetsTimedOut:
        # It may have registered the asset after we stopped waiting: take it back.
        await _forget(bus, body.asset_id, body.client_id)
        raise
    if reply.error is not None:
        raise api_error(reply.error)
    if reply.asset is None:
        raise UpstreamFailed("the assets service answered without an asset")
    return reply.asset


async def _forget(bus: Bus, asset_id: str, client_id: str) -> None:
    body = DeleteRequest(client_id=client_id, asset_id=asset_id)
    try:
        await ask(bus, DELETE, body, DeleteReply, QUERY_TIMEOUT_S)
    except ApiError:
        log.warning("asset.forget_failed", extra={"asset_id": asset_id})


async def find_assets(
    bus: Bus, client_id: str | None, asset_ids: list[str]
) -> tuple[list[Asset], list[str]]:
    """The assets among `asset_ids` that `client_id` may use, and the ids that name none
    (unknown or another client's): for a view that must refuse a job naming them (422).

    Example: `found, missing = await find_assets(app[BUS], "client-a", ["ab12..."])`
    """
    reply = await ask(
        bus, GET, GetRequest(client_id=client_id, asset_ids=asset_ids), GetReply, QUERY_TIMEOUT_S
    )
    if reply.error is not None:
        raise api_error(reply.error)
    return reply.assets, reply.missing


async def ask(bus: Bus, subject: str, body: BaseModel, reply_type: type[R], timeout_s: float) -> R:
    """One request to the assets service; its reply, or the HTTP error for its absence."""
    try:
        reply = await bus.request(subject, body, reply_type, timeout_s=timeout_s)
    except nats.errors.NoRespondersError:
        raise Unavailable(UNAVAILABLE) from None
    except (nats.errors.TimeoutError, TimeoutError):
        message = f"the assets service did not answer within {timeout_s:.0f} s; nothing was stored"
        raise AssetsTimedOut(message) from None
    except nats.errors.Error as exc:
        raise Unavailable(f"{UNAVAILABLE} ({exc.__class__.__name__})") from None
    except ValidationError:
        raise UpstreamFailed("the assets service sent an unreadable reply") from None
    return cast(R, reply)


def api_error(error: AssetError) -> ApiError:
    """The HTTP error for an error the assets service answered with."""
    match error.code:
        case "unsupported_media_type":
            return UnsupportedMediaType(error.message)
        case "payload_too_large":
            return PayloadTooLarge(error.message)
        case "not_found":
            return NotFound(error.message)
        case _:
            return UpstreamFailed(f"the assets service failed: {error.message}")
