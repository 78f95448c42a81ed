"""Everything one fake server holds, shared by its middlewares and views."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tools.fake_replicate.config import FakeConfig, Faults
from tools.fake_replicate.faults import Dice
from tools.fake_replicate.fetch import InputFetcher
from tools.fake_replicate.lifecycle import Engine
from tools.fake_replicate.ratelimit import RateLimiter
from tools.fake_replicate.store import BlobStore
from tools.fake_replicate.webhooks import DeliveryStats, WebhookSender


@dataclass
class Counters:
    requests_total: int = 0
    gets: int = 0
    downloads: int = 0
    responses: Counter[int] = field(default_factory=Counter)
    faults_injected: Counter[str] = field(default_factory=Counter)
    rate_limited: Counter[str] = field(default_factory=Counter)


class FakeState:
    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.faults: Faults = config.faults
        self.store = BlobStore()
        self.limiter = RateLimiter(config.rate_window_s)
        self.fault_dice = Dice(config.seed + 1)
        self.counters = Counters()
        self.executor = ThreadPoolExecutor(config.media_workers, "fake-replicate-media")
        self.fetcher = InputFetcher(self.store, config.input_fetch_timeout_s)
        scale = config.latency_scale
        self.webhooks = WebhookSender(
            config.webhook_secret,
            timeout_s=config.webhook_timeout_s,
            max_attempts=config.webhook_max_attempts,
            backoff_s=config.webhook_backoff_s * scale,
            throttle_s=config.webhook_throttle_s,
        )
        self.engine = Engine(
            config, lambda: self.faults, self.store, self.fetcher, self.webhooks, self.executor
        )

    def set_base_url(self, base_url: str) -> None:
        self.engine.base_url = base_url
        self.fetcher.own_netloc = base_url.split("://", 1)[1]

    def reset(self) -> None:
        self.engine.reset()
        self.store.clear()
        self.limiter.reset()
        self.faults = self.config.faults
        self.fault_dice = Dice(self.config.seed + 1)
        self.counters = Counters()
        self.webhooks.stats = DeliveryStats()

    def stats(self) -> dict[str, Any]:
        engine = self.engine
        by_status = Counter(r.status for r in engine.predictions.values())
        webhooks = self.webhooks.stats
        return {
            "requests_total": self.counters.requests_total,
            "creates": dict(engine.creates),
            "creates_total": sum(engine.creates.values()),
            "gets": self.counters.gets,
            "cancels": engine.cancels,
            "downloads": self.counters.downloads,
            "predictions_by_status": dict(by_status),
            "responses_by_status": {str(k): v for k, v in sorted(self.counters.responses.items())},
            "faults_injected": dict(self.counters.faults_injected),
            "rate_limited": dict(self.counters.rate_limited),
            "webhooks": {
                "attempts": webhooks.attempts,
                "delivered": webhooks.delivered,
                "failed_attempts": webhooks.failed_attempts,
                "gave_up": webhooks.gave_up,
                "by_event": dict(webhooks.by_event),
            },
        }

    async def close(self) -> None:
        await self.engine.close()
        await self.webhooks.close()
        await self.fetcher.close()
        self.executor.shutdown(wait=False, cancel_futures=True)


STATE = web.AppKey("fake_replicate_state", FakeState)
TOKEN = web.RequestKey("fake_replicate_token", str)
