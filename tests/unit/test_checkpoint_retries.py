"""Calls to the prediction checkpoint store (NATS KV) are retried with the shared backoff:
a blip is ridden out, a store that stays away makes the provider unavailable (the stage is
retried later) instead of losing track of a prediction that was paid for."""

from __future__ import annotations

import pytest

from shared.backoff import Backoff
from shared.providers.replicate import predictions
from shared.providers.replicate.errors import ProviderUnavailable


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(predictions, "CHECKPOINT_BACKOFF", Backoff(base_s=0.0))


async def test_a_blip_is_ridden_out() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < predictions.SAVE_TRIES:
            raise TimeoutError
        return "saved"

    assert await predictions._checkpoint_call(flaky) == "saved"
    assert calls == predictions.SAVE_TRIES


async def test_a_store_that_stays_away_makes_the_provider_unavailable() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise TimeoutError

    with pytest.raises(ProviderUnavailable, match="checkpoints are unreachable"):
        await predictions._checkpoint_call(down)
    assert calls == predictions.SAVE_TRIES


async def test_other_errors_are_not_retried() -> None:
    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a bug, not a blip")

    with pytest.raises(ValueError):
        await predictions._checkpoint_call(broken)
    assert calls == 1
