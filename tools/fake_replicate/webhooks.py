"""Webhook signing (Standard Webhooks, reference §2) and delivery with throttling and retries."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from tools.fake_replicate.transport import ssl_context

Event = Literal["start", "output", "logs", "completed"]
ALL_EVENTS: frozenset[str] = frozenset({"start", "output", "logs", "completed"})
# With no filter Replicate calls back "whenever there are new outputs or the prediction has
# finished" (reference §2).
DEFAULT_EVENTS: frozenset[str] = frozenset({"output", "completed"})
THROTTLED: frozenset[str] = frozenset({"output", "logs"})


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256>` over `id.timestamp.body`,
    keyed with the base64-decoded part of `whsec_<key>`."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")


@dataclass
class DeliveryStats:
    attempts: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    gave_up: int = 0
    by_event: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    event: str
    body: str
    message_id: str


class Channel:
    """Deliveries for one prediction to one URL, sent in order by one task.

    `output` and `logs` are throttled to one per `throttle_s`: a burst is coalesced into one
    delivery of the latest state. `start` and `completed` always go out."""

    def __init__(
        self,
        sender: WebhookSender,
        url: str,
        events: frozenset[str],
        snapshot: Callable[[], dict[str, Any]],
    ) -> None:
        self.sender = sender
        self.url = url
        self.events = events
        self.snapshot = snapshot
        self.queue: asyncio.Queue[Delivery | None] = asyncio.Queue()
        self.last_throttled = -1e9
        self.pending: asyncio.TimerHandle | None = None
        self.task = asyncio.create_task(self._run())

    def notify(self, event: str) -> None:
        if event == "completed":
            # Terminal: whatever is pending is stale (the completed body is newer), and the
            # channel ends whether or not `completed` itself is in the filter.
            if self.pending is not None:
                self.pending.cancel()
                self.pending = None
            if event in self.events:
                self._enqueue(event)
            self.queue.put_nowait(None)
            return
        if event not in self.events:
            return
        if event not in THROTTLED:
            self._enqueue(event)
            return
        if self.pending is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self.last_throttled + self.sender.throttle_s - loop.time()
        if wait <= 0:
            self.last_throttled = loop.time()
            self._enqueue(event)
        else:
            self.pending = loop.call_later(wait, self._flush, event)

    def _flush(self, event: str) -> None:
        self.pending = None
        self.last_throttled = asyncio.get_running_loop().time()
        self._enqueue(event)

    def _enqueue(self, event: str) -> None:
        body = json.dumps(self.snapshot())
        self.queue.put_nowait(Delivery(event, body, message_id()))

    async def _run(self) -> None:
        while (delivery := await self.queue.get()) is not None:
            await self.sender.deliver(self.url, delivery)


class WebhookSender:
    def __init__(
        self,
        secret: str,
        timeout_s: float,
        max_attempts: int,
        backoff_s: float,
        throttle_s: float,
    ) -> None:
        self.secret = secret
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.throttle_s = throttle_s
        self.stats = DeliveryStats()
        self.channels: set[Channel] = set()
        # Replicate does not follow redirects (reference §1.3).
        self._client = httpx.AsyncClient(
            timeout=timeout_s, follow_redirects=False, verify=ssl_context()
        )

    def channel(
        self, url: str, events: frozenset[str], snapshot: Callable[[], dict[str, Any]]
    ) -> Channel:
        channel = Channel(self, url, events, snapshot)
        self.channels.add(channel)
        channel.task.add_done_callback(lambda _: self.channels.discard(channel))
        return channel

    def headers(self, delivery: Delivery) -> dict[str, str]:
        timestamp = int(time.time())
        return {
            "content-type": "application/json",
            "user-agent": "Replicate-Webhook/1.0",
            "webhook-id": delivery.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.secret, delivery.message_id, timestamp, delivery.body),
        }

    async def deliver(self, url: str, delivery: Delivery) -> bool:
        """POST until a 2xx; the same webhook-id on every attempt so receivers can dedupe."""
        for attempt in range(1, self.max_attempts + 1):
            self.stats.attempts += 1
            try:
                response = await self._client.post(
                    url, content=delivery.body.encode(), headers=self.headers(delivery)
                )
                if 200 <= response.status_code < 300:
                    self.stats.delivered += 1
                    events = self.stats.by_event
                    events[delivery.event] = events.get(delivery.event, 0) + 1
                    return True
            except httpx.HTTPError:
                pass
            self.stats.failed_attempts += 1
            if attempt < self.max_attempts:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        self.stats.gave_up += 1
        return False

    async def close(self) -> None:
        for channel in list(self.channels):
            channel.task.cancel()
        await asyncio.gather(*(c.task for c in self.channels), return_exceptions=True)
        await self._client.aclose()
