"""The one backoff (`shared.backoff.Backoff`) and the waits each retry loop gets from it:
every caller keeps the distribution it had before the loops shared one mechanism."""

from __future__ import annotations

import math
import random

import pytest

from services.gateway.jobs.outbox import FAILURE_BACKOFF
from shared.backoff import Backoff, Jitter
from shared.bus import REDELIVERY_BACKOFF
from shared.providers.replicate.predictions import CHECKPOINT_BACKOFF
from shared.providers.replicate.retries import RetryPolicy

ALMOST_ONE = math.nextafter(1.0, 0.0)  # the largest draw `random.random()` can return


def test_the_step_doubles_from_the_base_up_to_the_cap() -> None:
    # Without jitter the n-th retry waits base * 2**(n - 1), never more than the cap.
    backoff = Backoff(base_s=1.0, cap_s=10.0)
    assert [backoff.delay_s(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    # Retry 0 (or less) is the base; an absurd retry count is the cap, not an overflow.
    assert backoff.step_s(0) == backoff.step_s(-3) == 1.0
    assert backoff.delay_s(10**9) == 10.0
    assert math.isfinite(Backoff(base_s=0.5).delay_s(10**9))


@pytest.mark.parametrize(
    ("jitter", "low", "high"),
    [("none", 8.0, 8.0), ("full", 1.0, 8.0), ("equal", 4.0, 8.0), ("quarter", 6.0, 8.0)],
)
def test_each_jitter_stays_within_its_share_of_the_step(
    jitter: Jitter, low: float, high: float
) -> None:
    # The 4th retry's step is 8 s; each jitter style spreads the wait over its own range.
    backoff = Backoff(base_s=1.0, cap_s=60.0, jitter=jitter)
    assert backoff.delay_s(4, draw=0.0) == pytest.approx(high if jitter == "quarter" else low)
    assert backoff.delay_s(4, draw=ALMOST_ONE) == pytest.approx(
        low if jitter == "quarter" else high
    )
    rng = random.Random(3)
    delays = [backoff.delay_s(4, draw=rng.random()) for _ in range(500)]
    assert all(low <= d <= high for d in delays)
    # Random draws really spread the waits (unless there is no jitter).
    assert (max(delays) - min(delays) > (high - low) / 2) == (jitter != "none")


def test_an_unknown_jitter_is_refused() -> None:
    with pytest.raises(ValueError, match="jitter"):
        Backoff(base_s=1.0, jitter="half").delay_s(1, draw=0.5)  # type: ignore[arg-type]


def test_a_redelivery_waits_from_half_a_second_up_to_the_doubled_step() -> None:
    # The bus naks the n-th failed delivery with full jitter between 0.5 s and
    # min(30 s, 0.5 s * 2**n): the same draws give the same waits as before.
    for deliveries in range(1, 9):
        old, new = random.Random(deliveries), random.Random(deliveries)
        expected = old.uniform(0.5, min(30.0, 0.5 * 2**deliveries))
        assert REDELIVERY_BACKOFF.delay_s(deliveries + 1, draw=new.random()) == expected
        assert 0.5 <= REDELIVERY_BACKOFF.delay_s(deliveries + 1) <= min(30.0, 0.5 * 2**deliveries)


def test_a_webhook_retry_waits_the_step_less_up_to_a_quarter() -> None:
    # The dispatcher's quarter jitter: step * (1 - 0.25 * draw), as it computed before.
    backoff = Backoff(base_s=2.0, cap_s=3600.0, jitter="quarter")
    rng = random.Random(5)
    for attempts in range(1, 14):
        draw = rng.random()
        step = min(3600.0, 2.0 * 2.0 ** max(0, attempts - 1))
        assert backoff.delay_s(attempts, draw=draw) == step * (1 - 0.25 * draw)


def test_replicate_retries_wait_half_the_step_plus_a_random_half() -> None:
    # RetryPolicy's equal jitter: step/2 + uniform(0, step/2), draw for draw.
    policy = RetryPolicy(base_s=0.5, cap_s=8.0, attempts=8)
    for attempt in range(1, 8):
        old, new = random.Random(attempt), random.Random(attempt)
        step = min(8.0, 0.5 * 2 ** (attempt - 1))
        assert policy.backoff_s(attempt, new) == step / 2 + old.uniform(0, step / 2)
        assert step / 2 <= policy.backoff_s(attempt) <= step


def test_the_outbox_relay_doubles_its_wait_from_a_fifth_of_a_second_to_five() -> None:
    # Consecutive failed relays: the wait the relay used to double by hand.
    waits = [FAILURE_BACKOFF.delay_s(failures) for failures in range(1, 9)]
    assert waits == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])


def test_checkpoint_tries_wait_a_fixed_doubling_step() -> None:
    # A checkpoint read or write retried after try n waits 0.2 s * 2**n, no jitter.
    assert [CHECKPOINT_BACKOFF.delay_s(n) for n in range(1, 5)] == [0.2 * 2**n for n in range(1, 5)]
