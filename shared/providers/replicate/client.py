"""The official `replicate` client, built from settings, behind a small API that adds
what the client lacks: our rate limits, retries of creates (429, 5xx, connection errors),
fail-fast errors with the provider's own message, and tolerance of newer statuses.

Example::

    api = ReplicateApi.from_settings(settings, limits)
    prediction = await api.create("black-forest-labs/flux-schnell", {"prompt": "an apple"})
    prediction = await api.get(prediction.id, prediction.model)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from replicate.client import Client as ReplicateClient
from replicate.exceptions import ReplicateError

from shared.logging import get_logger
from shared.metrics import PROVIDER_RETRIES
from shared.providers.replicate.errors import (
    ProviderRejected,
    ProviderUnavailable,
    redact,
)
from shared.providers.replicate.limiter import RateLimiter, RequestLimits
from shared.providers.replicate.prediction import PredictionState
from shared.providers.replicate.retries import RetryPolicy
from shared.providers.replicate.transport import PROVIDER, ReplicateTransport, call
from shared.settings import Settings

try:  # the client validates with pydantic's v1 shim under pydantic 2
    from pydantic.v1 import ValidationError as V1ValidationError
except ImportError:  # pragma: no cover
    from pydantic import ValidationError as V1ValidationError  # type: ignore[assignment]

log = get_logger(__name__)
# One INFO line per poll would flood the logs; requests are counted by the transport instead.
logging.getLogger("httpx").setLevel(logging.WARNING)

T = TypeVar("T")
API_TIMEOUT = httpx.Timeout(10.0, read=30.0, write=30.0, pool=30.0)
DOWNLOAD_TIMEOUT = httpx.Timeout(10.0, read=60.0, write=30.0, pool=60.0)


def problem_message(status: int | None, title: str | None, detail: str | None) -> str:
    parts = [p.strip() for p in (title, detail) if p and p.strip()]
    text = ": ".join(parts) if parts else "no details given"
    return f"Replicate answered {status}: {text}"


class ReplicateApi:
    def __init__(
        self,
        client: ReplicateClient,
        downloads: httpx.AsyncClient,
        limits: RequestLimits,
        policy: RetryPolicy,
        token: str | None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.downloads = downloads
        self.limits = limits
        self.policy = policy
        self._token = token
        self.sleep = sleep

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        limits: RequestLimits,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> ReplicateApi:
        token = (
            settings.replicate_api_token.get_secret_value()
            if settings.replicate_api_token
            else None
        )
        transport = ReplicateTransport(inner, settings.replicate_delivery_base_url)
        client = ReplicateClient(
            api_token=token or "",
            base_url=settings.replicate_base_url or "https://api.replicate.com",
            timeout=API_TIMEOUT,
            transport=transport,
        )
        # The file host gets the token too, as the client's own FileOutput would send it.
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        downloads = httpx.AsyncClient(
            transport=transport, headers=headers, timeout=DOWNLOAD_TIMEOUT, follow_redirects=True
        )
        policy = RetryPolicy(
            base_s=settings.replicate_retry_base_s,
            cap_s=settings.replicate_retry_cap_s,
            attempts=settings.replicate_request_attempts,
        )
        return cls(client, downloads, limits, policy, token)

    async def close(self) -> None:
        await self.downloads.aclose()

    # ----------------------------------------------------------------------------- calls

    async def create(
        self,
        model: str,
        input: dict[str, Any],
        version: str | None = None,
        webhook: str | None = None,
        find_lost: Callable[[], Awaitable[PredictionState | None]] | None = None,
    ) -> PredictionState:
        """Create a prediction. `find_lost` is asked before a create is retried after an
        answer that may hide a created prediction (5xx, a dropped connection), so a
        retry does not pay twice."""
        params: dict[str, Any] = {"input": input}
        if webhook:
            params["webhook"] = webhook
            params["webhook_events_filter"] = ["completed"]
        if version:
            params["version"] = version
        else:
            params["model"] = model

        async def create() -> PredictionState:
            return PredictionState.of(await self.client.predictions.async_create(**params))

        return await self._call(model, "create", self.limits.create, create, find_lost)

    async def get(self, prediction_id: str, model: str) -> PredictionState:
        async def get() -> PredictionState:
            try:
                return PredictionState.of(await self.client.predictions.async_get(prediction_id))
            except V1ValidationError:
                # A status the client does not know (`aborted`): read the raw answer.
                response = await self.client._async_request(
                    "GET", f"/v1/predictions/{prediction_id}"
                )
                return PredictionState.of(response.json())

        return await self._call(model, "get", self.limits.other, get)

    async def cancel(self, prediction_id: str, model: str) -> PredictionState:
        async def cancel() -> PredictionState:
            try:
                return PredictionState.of(await self.client.predictions.async_cancel(prediction_id))
            except V1ValidationError:
                response = await self.client._async_request(
                    "POST", f"/v1/predictions/{prediction_id}/cancel"
                )
                return PredictionState.of(response.json())

        return await self._call(model, "cancel", self.limits.other, cancel)

    async def recent(self, model: str, since: datetime) -> list[PredictionState]:
        """Predictions created since `since` (newest first, first page of 100): to find
        one whose create answer was lost."""

        async def recent() -> list[PredictionState]:
            page = await self.client.predictions.async_list()
            found = []
            for item in page.results:
                state = PredictionState.of(item)
                created = _parse_time(state.created_at)
                if created is None or created >= since - timedelta(seconds=5):
                    found.append(state)
            return found

        return await self._call(model, "list", self.limits.other, recent)

    async def webhook_secret(self) -> str:
        async def secret() -> str:
            return str((await self.client.webhooks.default.async_secret()).key)

        return await self._call("", "secret", self.limits.other, secret)

    async def download(self, url: str, model: str, max_bytes: int) -> bytes:
        """The bytes of an output file (retried like an API call; 404 = expired)."""

        async def fetch() -> bytes:
            async with self.downloads.stream("GET", url) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise ReplicateError(
                        title="Download failed",
                        detail=f"GET output file answered {response.status_code}",
                        status=response.status_code,
                    )
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ProviderRejected(f"output file is larger than {max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)

        return await self._call(model, "download", None, fetch)

    # ----------------------------------------------------------------------------- retries

    async def _call(
        self,
        model: str,
        operation: str,
        limiter: RateLimiter | None,
        attempt_once: Callable[[], Awaitable[T]],
        recover: Callable[[], Awaitable[T | None]] | None = None,
    ) -> T:
        attempt = 0
        while True:
            attempt += 1
            if limiter is not None:
                await limiter.acquire()
            unsent = False
            error: Exception
            with call(model, operation) as note:
                try:
                    return await attempt_once()
                except ReplicateError as exc:
                    status, error = exc.status, exc
                except httpx.HTTPError as exc:  # connection refused, reset, timeouts
                    status, error = None, exc
                    unsent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            decision = self.policy.decide(attempt, status, note.retry_after_s)
            if not decision.retry:
                raise self._final_error(operation, status, error, attempt) from None
            ambiguous = not unsent and (status is None or status >= 500)
            if recover is not None and ambiguous and (found := await recover()) is not None:
                log.info("replicate.create_recovered", extra={"model": model})
                return found
            PROVIDER_RETRIES.labels(PROVIDER, model, decision.reason).inc()
            log.info(
                "replicate.retry",
                extra={
                    "model": model,
                    "operation": operation,
                    "status": status,
                    "attempt": attempt,
                    "delay_s": round(decision.delay_s, 3),
                },
            )
            await self.sleep(decision.delay_s)

    def _final_error(
        self, operation: str, status: int | None, error: Exception, attempts: int
    ) -> Exception:
        if isinstance(error, ReplicateError):
            message = problem_message(status, error.title, error.detail)
        else:
            message = f"Replicate could not be reached: {type(error).__name__}"
        message = redact(message, self._token)
        if status is not None and status < 500 and status not in (408, 425, 429):
            return ProviderRejected(f"{operation}: {message}", status=status)
        return ProviderUnavailable(
            f"{operation}: {message} (gave up after {attempts} tries)", status=status
        )


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_time(text: str | None) -> datetime | None:
    """An API timestamp (`2025-06-01T12:00:00.000Z`) as an aware datetime, or None."""
    return _parse_time(text)
