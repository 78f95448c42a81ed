"""The HTTP transport under the official client: it sees every single request, including
the client's own GET retries, which the client's API hides.

- Output URLs on `replicate.delivery` are fetched from `REPLICATE_DELIVERY_BASE_URL` when
  that is set (the fake in tests and `make run`; a mirror or proxy in production).
- Each request is measured (`reelsmith_provider_requests_total` by model, operation and
  outcome; latency), labelled from the `call` context the caller opened.
- The status, `Retry-After` and problem body of an error answer are noted on that context:
  `ReplicateError` keeps neither the header nor the body's `retry_after`.

Tokens travel in the Authorization header only; nothing here logs headers.

Example::

    transport = ReplicateTransport(delivery_base_url="http://127.0.0.1:8123")
    with call("black-forest-labs/flux-schnell", "create") as note:
        ...                              # a request through a client using `transport`
    note.status, note.retry_after_s
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.trace import SpanKind

from shared.metrics import PROVIDER_LATENCY, PROVIDER_REQUESTS
from shared.providers.replicate.retries import parse_retry_after
from shared.tracing import span

PROVIDER = "replicate"
DELIVERY_HOST = "replicate.delivery"


@dataclass
class CallNote:
    """What the transport saw of one logical call (possibly several HTTP requests)."""

    model: str
    operation: str
    status: int | None = None
    retry_after_s: float | None = None
    problem: Any = None
    requests: int = 0


_CALL: ContextVar[CallNote | None] = ContextVar("replicate_call", default=None)


@contextlib.contextmanager
def call(model: str, operation: str) -> Iterator[CallNote]:
    """Label the requests made inside the block and collect what they answered."""
    note = CallNote(model=model, operation=operation)
    token = _CALL.set(note)
    try:
        yield note
    finally:
        _CALL.reset(token)


def outcome_label(status: int | None) -> str:
    if status is None:
        return "connection"
    if status < 400:
        return "ok"
    if status >= 500:
        return "5xx"
    return str(status)


def rewrite_delivery(url: httpx.URL, delivery_base_url: str | None) -> httpx.URL:
    """`https://replicate.delivery/xezq/a/out-0.png` → `{base}/xezq/a/out-0.png`."""
    if not delivery_base_url:
        return url
    host = url.host
    if host != DELIVERY_HOST and not host.endswith("." + DELIVERY_HOST):
        return url
    base = httpx.URL(delivery_base_url.rstrip("/") + "/")
    return base.join(url.raw_path.decode("ascii").lstrip("/"))


class ReplicateTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        delivery_base_url: str | None = None,
    ) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport(retries=0)
        self.delivery_base_url = delivery_base_url

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request = self._rewritten(request)
        note = _CALL.get()
        model, operation = (note.model, note.operation) if note else ("", "other")
        started = time.monotonic()
        with span(
            f"replicate {operation}",
            SpanKind.CLIENT,
            attributes={"http.request.method": request.method, "replicate.model": model},
        ) as current:
            response = await self._send(request, note, model, operation, started)
            current.set_attribute("http.response.status_code", response.status_code)
        return response

    async def _send(
        self,
        request: httpx.Request,
        note: CallNote | None,
        model: str,
        operation: str,
        started: float,
    ) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError:
            PROVIDER_REQUESTS.labels(PROVIDER, model, operation, "connection").inc()
            if note is not None:
                note.requests += 1
                note.status = None
            raise
        PROVIDER_LATENCY.labels(PROVIDER, model, operation).observe(time.monotonic() - started)
        PROVIDER_REQUESTS.labels(
            PROVIDER, model, operation, outcome_label(response.status_code)
        ).inc()
        if note is not None:
            note.requests += 1
            note.status = response.status_code
            if response.status_code >= 400:
                await response.aread()  # a small problem+json body; the client reads it too
                note.problem = _json_or_none(response)
                note.retry_after_s = parse_retry_after(
                    response.headers.get("retry-after"), note.problem
                )
        return response

    def _rewritten(self, request: httpx.Request) -> httpx.Request:
        url = rewrite_delivery(request.url, self.delivery_base_url)
        if url == request.url:
            return request
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
        headers.insert(0, (b"Host", url.netloc))  # httpx sets Host only for new bodies
        return httpx.Request(
            request.method,
            url,
            headers=headers,
            stream=request.stream,
            extensions=request.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
