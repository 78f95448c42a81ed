"""When to retry a Replicate request, and how long to wait first. Pure: the runner asks,
the policy answers, so every decision is tested without a server.

The official client never retries a POST (create, cancel) and retries GETs only on
429/503/504, so our layer retries creates on 429 (honouring `Retry-After` or the body's
`retry_after`), on 500/502/503/504 and on connection errors; 4xx answers that no retry
can fix (401 token, 402 credit, 404, 422 input) fail at once.

Example::

    policy = RetryPolicy(base_s=0.5, cap_s=30, attempts=8)
    decision = policy.decide(attempt=1, status=429, retry_after_s=2.0)
    if decision.retry:
        await asyncio.sleep(decision.delay_s)
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from shared.backoff import Backoff

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
CONTENT_POLICY_MARKERS = ("e005", "flagged as sensitive", "nsfw", "content policy")
_RESETS_IN = re.compile(r"resets in ~?\s*(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)


@dataclass(frozen=True)
class Decision:
    retry: bool
    delay_s: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter and a cap; `attempts` counts the first try."""

    base_s: float = 0.5
    cap_s: float = 30.0
    attempts: int = 8

    def backoff_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Wait before try `attempt + 1`: half the exponential step plus a random half
        ("equal jitter"), so replicas spread out but never retry at once."""
        backoff = Backoff(self.base_s, self.cap_s, jitter="equal")
        return backoff.delay_s(attempt, draw=(rng or random).random())

    def decide(
        self,
        attempt: int,
        status: int | None,
        retry_after_s: float | None = None,
        rng: random.Random | None = None,
    ) -> Decision:
        """After try `attempt` answered `status` (None: no answer, a connection error)."""
        reason = retry_reason(status)
        if status is not None and status not in RETRYABLE_STATUSES:
            return Decision(retry=False, reason=reason)
        if attempt >= self.attempts:
            return Decision(retry=False, reason=reason)
        if retry_after_s is not None:
            # The server said when; a little jitter keeps replicas from returning together.
            wait = min(self.cap_s, max(0.0, retry_after_s))
            return Decision(True, wait + (rng or random).uniform(0, 0.1 * wait + 0.01), reason)
        return Decision(True, self.backoff_s(attempt, rng), reason)


def retry_reason(status: int | None) -> str:
    """A metric label: 429, 5xx, connection or the 4xx status."""
    if status is None:
        return "connection"
    if status == 429:
        return "429"
    if status >= 500:
        return "5xx"
    return str(status)


def parse_retry_after(
    header: str | None, body: Any = None, now: datetime | None = None
) -> float | None:
    """Seconds to wait from a `Retry-After` header (seconds or HTTP date), else from a
    problem body's `retry_after`, else from its "resets in ~30s" detail."""
    if header:
        text = header.strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    if isinstance(body, dict):
        value = body.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return max(0.0, float(value))
        detail = body.get("detail")
        if isinstance(detail, str) and (match := _RESETS_IN.search(detail)):
            return float(match.group(1))
    return None


def is_content_policy(error: str | None) -> bool:
    """A failed prediction whose error is a content-policy refusal (E005, "flagged as
    sensitive"): another seed would be refused the same way."""
    text = (error or "").lower()
    return any(marker in text for marker in CONTENT_POLICY_MARKERS)
