"""The fake Replicate server in the test's own event loop, and settings that point the
services' replicate backend at it.

Example::

    async with started_fake(latency_scale=0.01) as fake:
        async with running_system(nats_url, tmp_path, **replicate_settings(fake)) as system:
            ...
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from tools.fake_replicate import FakeConfig, FakeReplicate

TOKEN = "r8_test_token_for_the_fake_0123456789"


@contextlib.asynccontextmanager
async def started_fake(**config: Any) -> AsyncIterator[FakeReplicate]:
    """A fake on a random loopback port: small media, latencies scaled by 0.01, no faults."""
    values: dict[str, Any] = {
        "token": TOKEN,
        "latency_scale": 0.01,
        "resolution_divisor": 8,
        "seed": 1,
        # Webhook retries of a test's last predictions must not outlive it.
        "webhook_backoff_s": 0.05,
        "webhook_max_attempts": 2,
    }
    values.update(config)
    fake = FakeReplicate(FakeConfig(**values))
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def replicate_settings(fake: FakeReplicate, **overrides: Any) -> dict[str, Any]:
    """Settings for every service: the replicate backend on the fake, fast polling, short
    deadlines and backoff so failures show within seconds."""
    values: dict[str, Any] = {
        "generation_backend": "replicate",
        "replicate_api_token": TOKEN,
        "replicate_base_url": fake.base_url,
        "replicate_delivery_base_url": fake.base_url,
        "replicate_poll_min_s": 0.02,
        "replicate_poll_max_s": 0.2,
        "replicate_retry_base_s": 0.02,
        "replicate_retry_cap_s": 0.5,
        "replicate_script_deadline_s": 20.0,
        "replicate_frame_deadline_s": 20.0,
        "replicate_clip_deadline_s": 30.0,
        "replicate_voice_deadline_s": 20.0,
    }
    values.update(overrides)
    return values


def replicate_env(fake: FakeReplicate, **overrides: Any) -> dict[str, str]:
    """The same settings as environment variables, for services run as processes."""
    return {
        name.upper(): str(value) for name, value in replicate_settings(fake, **overrides).items()
    }


def creates_by_model(fake: FakeReplicate) -> Counter[str]:
    """Predictions the fake created, per model."""
    return Counter(dict(fake.stats()["creates"]))


def duplicated_creates(fake: FakeReplicate) -> list[str]:
    """Ids of predictions created with the same model and input as an earlier one."""
    return [r.id for r in fake.predictions.values() if r.create_count > 1]
