"""`POST /webhooks/replicate`: Replicate's prediction webhooks, the fast path of the
replicate backend (its workers poll as the safety net).

No bearer token: the request is authenticated by its Standard-Webhooks signature, checked
with the official client's `Webhooks.validate` against the account's signing secret
(`REPLICATE_WEBHOOK_SECRET`, else fetched once from `GET /v1/webhooks/default/secret` and
cached; fetched again when a signature fails, so a rotated secret is picked up) and a
timestamp tolerance against replays. A valid delivery is republished on core NATS as
`replicate.prediction.<id>`; every worker replica hears it and the one following that
prediction wakes at once. Deliveries are retried by Replicate and may repeat: workers
treat them idempotently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from services.gateway.appkeys import BUS, REPLICATE_SECRET, SETTINGS
from services.gateway.contract.operations import ERROR, Response, operation
from services.gateway.http.errors import ApiError, NotFound, Unauthorized, Unavailable
from shared.logging import get_logger
from shared.providers.replicate.errors import ProviderError
from shared.providers.replicate.inbox import prediction_subject
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.providers.replicate.client import ReplicateApi

log = get_logger(__name__)

PATH = "/webhooks/replicate"
REFETCH_AFTER_S = 60.0  # a failing signature may mean a rotated secret, asked at most this often


class PredictionWebhook(BaseModel):
    """What Replicate POSTs: the prediction, as `GET /v1/predictions/{id}` returns it."""

    model_config = ConfigDict(extra="allow")

    id: str
    status: str
    model: str | None = None
    output: Any = None
    error: str | None = None


EXAMPLE = {
    "id": "gm3qorzdhgbfurvjtvhg6dckhu",
    "model": "black-forest-labs/flux-schnell",
    "status": "succeeded",
    "output": ["https://replicate.delivery/xezq/AbC/out-0.webp"],
    "error": None,
}


class SigningSecret:
    """The webhook signing secret: configured, or fetched from the API and cached."""

    def __init__(self, configured: str | None, fetch: Callable[[], Awaitable[str]] | None) -> None:
        self._value = configured
        self._configured = configured is not None
        self._fetch = fetch
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, refresh: bool = False) -> str | None:
        if self._configured or self._fetch is None:
            return self._value
        async with self._lock:
            stale = refresh and time.monotonic() - self._fetched_at > REFETCH_AFTER_S
            if self._value is None or stale:
                self._value = await self._fetch()
                self._fetched_at = time.monotonic()
        return self._value


@operation(
    summary="Receive a Replicate prediction webhook",
    tags=("webhooks",),
    auth=False,
    request=PredictionWebhook,
    request_example=EXAMPLE,
    headers={
        "webhook-id": "Message id, the same on every retry of a delivery.",
        "webhook-timestamp": "Unix seconds when the delivery was signed.",
        "webhook-signature": "`v1,<base64 HMAC-SHA256>` entries, space-separated.",
    },
    responses={
        204: Response(None, "Accepted and passed to the workers."),
        400: ERROR,
        401: ERROR,
        404: ERROR,
        503: ERROR,
    },
    description="Authenticated by its Standard-Webhooks signature, not a bearer token. "
    "Deliveries older or newer than `REPLICATE_WEBHOOK_TOLERANCE_S` are refused.",
)
async def receive_replicate_webhook(request: web.Request) -> web.Response:
    raw = await request.read()
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("the body is not UTF-8") from None
    headers = {name: value for name, value in request.headers.items()}
    await _verify(request.app, headers, body)
    try:
        prediction = PredictionWebhook.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValueError):
        raise ApiError("the body is not a prediction") from None
    await request.app[BUS].nc.publish(prediction_subject(prediction.id), raw)
    log.info(
        "replicate.webhook_received",
        extra={"prediction_status": prediction.status, "model": prediction.model or ""},
    )
    return web.Response(status=204)


async def _verify(app: web.Application, headers: dict[str, str], body: str) -> None:
    secrets = app[REPLICATE_SECRET]
    tolerance = app[SETTINGS].replicate_webhook_tolerance_s
    # Imported here, not at the top: the Replicate SDK brings httpx, rich and numpy (~60 MB
    # of the gateway's RSS), and a gateway on the local backend never receives a webhook.
    from replicate.webhook import (
        InvalidSecretKeyError,
        InvalidSignatureError,
        InvalidTimestampError,
        MissingWebhookBodyError,
        MissingWebhookHeaderError,
        Webhooks,
        WebhookSigningSecret,
    )

    for refresh in (False, True):
        try:
            secret = await secrets.get(refresh=refresh)
        except ProviderError as exc:
            raise Unavailable(f"the webhook signing secret is unavailable: {exc}") from None
        if secret is None:
            # Not a fault of this gateway: it has no Replicate account to receive for.
            raise NotFound("Replicate webhooks are not configured on this gateway")
        try:
            Webhooks.validate(
                headers=headers,
                body=body,
                secret=WebhookSigningSecret(key=secret),
                tolerance=tolerance,
            )
            return
        except (MissingWebhookHeaderError, MissingWebhookBodyError) as exc:
            raise ApiError(f"not a signed webhook: {exc}") from None
        except InvalidTimestampError:
            raise Unauthorized("the webhook timestamp is outside the allowed window") from None
        except InvalidSecretKeyError:
            raise Unavailable("the configured webhook signing secret is malformed") from None
        except InvalidSignatureError:
            if refresh:
                raise Unauthorized("the webhook signature is invalid") from None
        except ValueError:  # a timestamp or signature that does not parse
            raise ApiError("the webhook headers are malformed") from None


def _secret_source(settings: Settings) -> tuple[SigningSecret, ReplicateApi | None]:
    configured = settings.replicate_webhook_secret
    if configured is not None and configured.get_secret_value():
        return SigningSecret(configured.get_secret_value(), None), None
    token = settings.replicate_api_token
    if token is None or not token.get_secret_value():
        return SigningSecret(None, None), None
    # Imported only when a Replicate account is configured (see `_verify`).
    from shared.providers.replicate.client import ReplicateApi
    from shared.providers.replicate.limiter import RequestLimits

    limits = RequestLimits(
        settings.replicate_create_per_minute, settings.replicate_requests_per_minute
    )
    api = ReplicateApi.from_settings(settings, limits)
    return SigningSecret(None, api.webhook_secret), api


async def replicate_signing_secret(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the signing secret, and the API client that fetches it, while the app runs."""
    secret, api = _secret_source(app[SETTINGS])
    app[REPLICATE_SECRET] = secret
    yield
    if api is not None:
        await api.close()
