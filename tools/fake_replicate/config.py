"""The fake's knobs: `FakeConfig` is fixed for a server's life, `Faults` can change at runtime."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# A fixed default so runs are reproducible; tests that care pass their own.
DEFAULT_WEBHOOK_SECRET = "whsec_ZmFrZS1yZXBsaWNhdGUtd2ViaG9vay1rZXkh"

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class Faults(BaseModel):
    """What goes wrong, and how often. Fractions are drawn from the fake's seeded RNG."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    create_429_fraction: Fraction = 0.0
    get_429_fraction: Fraction = 0.0
    create_5xx_fraction: Fraction = 0.0
    get_5xx_fraction: Fraction = 0.0
    download_429_fraction: Fraction = 0.0
    download_5xx_fraction: Fraction = 0.0
    status_5xx: tuple[int, ...] = (500, 502, 503, 504)
    html_errors: bool = False
    # A create that answers 5xx after the prediction was made: the response is lost,
    # so a caller that retries makes a duplicate (see `PredictionRecord.create_count`).
    create_5xx_creates: bool = False
    failed_fraction: Fraction = 0.0
    content_policy_fraction: Fraction = 0.0
    hanging_fraction: Fraction = 0.0
    slow_download_bytes_per_s: int = Field(default=0, ge=0)
    insufficient_credit: bool = False
    low_credit: bool = False
    retry_after_s: int = Field(default=1, ge=0)
    llm_malformed_fraction: Fraction = 0.0
    llm_invalid_fraction: Fraction = 0.0
    # Sync mode (`Prefer: wait`) quirks of the real API, see the reference §1.4.
    sync_processing_fraction: Fraction = 0.0
    sync_timeout_status: Literal["starting", "processing"] = "starting"

    @field_validator("status_5xx")
    @classmethod
    def _server_errors(cls, statuses: tuple[int, ...]) -> tuple[int, ...]:
        if not statuses or not all(500 <= s <= 599 for s in statuses):
            raise ValueError("status_5xx must be one or more 5xx codes")
        return statuses


class FakeConfig(BaseModel):
    """How one fake server behaves. Every field has a default that suits `make run`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str = "r8_dev"
    extra_tokens: tuple[str, ...] = ()
    # Multiplies every model latency, webhook backoff and Cancel-After deadline.
    latency_scale: float = Field(default=1.0, gt=0.0)
    output_ttl_s: float = Field(default=3600.0, gt=0.0)
    resolution_divisor: int = Field(default=1, ge=1)
    faults: Faults = Faults()
    seed: int = 1
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    # Multiplies the `Prefer: wait=N` hold so tests need not sleep up to 60 s.
    max_wait_scale: float = Field(default=1.0, gt=0.0)
    page_size: int = Field(default=100, ge=1)
    create_limit_per_min: int = Field(default=600, ge=1)
    other_limit_per_min: int = Field(default=3000, ge=1)
    low_credit_limit_per_min: int = Field(default=6, ge=1)
    rate_window_s: float = Field(default=60.0, gt=0.0)
    webhook_throttle_s: float = Field(default=0.5, ge=0.0)
    webhook_timeout_s: float = Field(default=5.0, gt=0.0)
    webhook_max_attempts: int = Field(default=6, ge=1)
    webhook_backoff_s: float = Field(default=5.0, ge=0.0)
    data_url_max_bytes: int = Field(default=256 * 1024, ge=1)
    input_fetch_timeout_s: float = Field(default=10.0, gt=0.0)
    # "sync": outputs of `Prefer: wait` responses are data: URIs, as older SDXL ones were.
    data_uri_outputs: Literal["never", "sync", "always"] = "never"
    media_workers: int = Field(default=2, ge=1)
    deployments: dict[str, str] = Field(
        default_factory=lambda: {
            "reelsmith/frames": "black-forest-labs/flux-schnell",
            "reelsmith/clips": "wan-video/wan-2.1-i2v-480p",
        }
    )

    @field_validator("webhook_secret")
    @classmethod
    def _signing_key(cls, secret: str) -> str:
        """`whsec_<base64>` with exactly one underscore, as the client's validator splits it."""
        prefix, _, key = secret.partition("_")
        if prefix != "whsec" or not key or "_" in key:
            raise ValueError("webhook_secret must look like whsec_<base64 key>")
        base64.b64decode(key, validate=True)
        return secret

    def tokens(self) -> frozenset[str]:
        return frozenset((self.token, *self.extra_tokens))
