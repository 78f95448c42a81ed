"""Which Replicate answers are retried, after how long, and which fail at once."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest

from shared.providers.replicate.predictions import next_poll_delay
from shared.providers.replicate.retries import (
    RetryPolicy,
    is_content_policy,
    parse_retry_after,
)
from shared.providers.replicate.transport import rewrite_delivery

POLICY = RetryPolicy(base_s=0.5, cap_s=8.0, attempts=5)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, None])
def test_throttling_server_errors_and_lost_connections_are_retried(status: int | None) -> None:
    decision = POLICY.decide(1, status, rng=random.Random(1))
    assert decision.retry and 0.25 <= decision.delay_s <= 0.5
    assert decision.reason == {429: "429", None: "connection"}.get(status, "5xx")


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
def test_answers_no_retry_can_fix_fail_fast(status: int) -> None:
    assert not POLICY.decide(1, status).retry


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    delays = [POLICY.decide(n, 503, rng=rng).delay_s for n in range(1, 5)]
    for attempt, delay in enumerate(delays, 1):
        step = min(8.0, 0.5 * 2 ** (attempt - 1))
        assert step / 2 <= delay <= step
    assert delays[-1] > delays[0]
    # The last attempt is not followed by another.
    assert not POLICY.decide(5, 503).retry


def test_the_servers_retry_after_wins_over_backoff_but_not_over_the_cap() -> None:
    decision = POLICY.decide(1, 429, retry_after_s=3, rng=random.Random(1))
    assert 3 <= decision.delay_s <= 3.31
    assert POLICY.decide(1, 429, retry_after_s=600).delay_s <= 8.0 * 1.1 + 0.01


def test_retry_after_comes_from_the_header_or_the_body() -> None:
    assert parse_retry_after("7") == 7
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Fri, 01 May 2026 12:00:30 GMT", now=now) == 30
    # ReplicateError drops these two, so the transport reads them from the raw answer.
    assert parse_retry_after(None, {"detail": "throttled", "retry_after": 4}) == 4
    assert parse_retry_after(None, {"detail": "Your rate limit resets in ~30s."}) == 30
    assert parse_retry_after(None, {"detail": "nothing"}) is None
    assert parse_retry_after("soon", None) is None


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        ("The input or output was flagged as sensitive. (E005)", True),
        ("NSFW content detected.", True),
        ("CUDA out of memory", False),
        (None, False),
    ],
)
def test_content_policy_refusals_are_recognised(error: str | None, refused: bool) -> None:
    assert is_content_policy(error) is refused


def test_delivery_urls_are_fetched_from_the_configured_host_only() -> None:
    url = httpx.URL("https://replicate.delivery/xezq/abc/out-0.webp")
    assert str(rewrite_delivery(url, "http://127.0.0.1:8123")) == (
        "http://127.0.0.1:8123/xezq/abc/out-0.webp"
    )
    sub = httpx.URL("https://pbxt.replicate.delivery/x/out-1.png")
    assert str(rewrite_delivery(sub, "http://fake:1/")) == "http://fake:1/x/out-1.png"
    assert rewrite_delivery(url, None) == url
    other = httpx.URL("https://api.replicate.com/v1/predictions")
    assert rewrite_delivery(other, "http://fake:1") == other


def test_polls_start_fast_and_back_off_with_the_predictions_age() -> None:
    delays = [next_poll_delay(age, 1.0, 10.0) for age in (0, 2, 10, 30, 120, 600)]
    assert delays == [1.0, 1.0, 2.0, 6.0, 10.0, 10.0]
    # With webhooks the polls are a safety net: they double, up to a larger cap.
    assert [next_poll_delay(age, 1.0, 30.0, growth=1.0) for age in (0, 1, 2, 4, 60)] == [
        1.0,
        1.0,
        2.0,
        4.0,
        30.0,
    ]
