"""The webhook fast path: the gateway verifies Replicate's webhook and republishes the
prediction on core NATS (`replicate.prediction.<id>`); every replica hears it, and the one
following that prediction wakes up at once instead of at its next poll. Polling stays the
safety net (core NATS is at most once).

Example::

    inbox = await WebhookInbox.listen(bus.nc)
    state = await inbox.wait(prediction_id, timeout_s=2.0)   # None: nothing arrived
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from shared.logging import get_logger
from shared.providers.replicate.prediction import PredictionState

log = get_logger(__name__)

SUBJECT_PREFIX = "replicate.prediction"
REMEMBERED = 2000


def prediction_subject(prediction_id: str) -> str:
    return f"{SUBJECT_PREFIX}.{prediction_id}"


class WebhookInbox:
    def __init__(self) -> None:
        self._waiters: dict[str, asyncio.Event] = {}
        # Terminal states that arrived before anyone waited (a fast prediction).
        self._arrived: OrderedDict[str, PredictionState] = OrderedDict()
        self._subscription: Subscription | None = None
        self.received = 0

    @classmethod
    async def listen(cls, nc: NATS) -> WebhookInbox:
        inbox = cls()
        inbox._subscription = await nc.subscribe(f"{SUBJECT_PREFIX}.*", cb=inbox._deliver)
        return inbox

    async def _deliver(self, msg: Msg) -> None:
        try:
            state = PredictionState.model_validate_json(msg.data)
        except ValidationError:
            log.warning("replicate.webhook_unreadable", extra={"subject": msg.subject})
            return
        self.offer(state)

    def offer(self, state: PredictionState) -> None:
        self.received += 1
        if not state.terminal:
            return
        self._arrived[state.id] = state
        self._arrived.move_to_end(state.id)
        while len(self._arrived) > REMEMBERED:
            self._arrived.popitem(last=False)
        if event := self._waiters.get(state.id):
            event.set()

    async def wait(self, prediction_id: str, timeout_s: float) -> PredictionState | None:
        """The prediction's terminal state if a webhook brings it within `timeout_s`."""
        if state := self._arrived.get(prediction_id):
            return state
        event = self._waiters.setdefault(prediction_id, asyncio.Event())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=max(0.0, timeout_s))
        finally:
            if self._waiters.get(prediction_id) is event:
                del self._waiters[prediction_id]
        return self._arrived.get(prediction_id)

    def forget(self, prediction_id: str) -> None:
        self._waiters.pop(prediction_id, None)
        self._arrived.pop(prediction_id, None)

    async def close(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
