"""Process configuration, read once from the environment.

Example::

    settings = Settings()              # reads NATS_URL, JWT_SECRET, ...
    print(settings.nats_url)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every variable of deploy/README.md's configuration table; secrets are `SecretStr`
    so they never print."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    service_name: str = "reelsmith"
    nats_url: str = "nats://127.0.0.1:4222"
    video_storage_path: Path = Path("./data/storage")
    database_path: Path = Path("./data/app.db")
    # The root of every service's migrations: `<root>/<service>/*.sql`, one folder each.
    migrations_path: Path = Path(__file__).resolve().parent.parent / "migrations"
    jwt_secret: SecretStr = SecretStr("")
    replicate_api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REPLICATE_API_TOKEN", "REPLICATE_API_KEY")
    )
    generation_backend: Literal["local", "replicate"] = "local"
    log_level: str = "INFO"
    daily_budget_soft_usd: float = 100.0
    daily_budget_hard_usd: float = 150.0
    stuck_job_timeout_s: float = 900.0
    max_job_retries: int = 2
    # Jobs paused for the budget are tried again on billing's announcements (a limit
    # raised, a new UTC day) and, as a safety net, this often (services/gateway/jobs/resume.py).
    paused_resume_interval_s: float = Field(default=60.0, gt=0)
    max_upload_bytes: int = 50 * 1024 * 1024
    otel_exporter_otlp_endpoint: str | None = None
    # Also append the JSON log lines to this file (`make run`: data/logs/<service>.jsonl).
    log_file: Path | None = None

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    # Frames are drawn at the platform's size divided by this; benchmarks raise it.
    frame_scale_divisor: int = 1
    # Videos are rendered at the platform's size divided by this (tests use small videos).
    render_scale_divisor: int = 1
    render_workers: int = 2
    storyboard_concurrency: int = 16
    scene_concurrency: int = 3
    consumer_ack_wait_s: float = 30.0
    consumer_max_deliver: int = 5

    # --- Reliability (services/gateway/jobs/reaper.py, ratelimit.py; shared/service.py) ---
    # SIGTERM → stop taking work, finish or hand back in-flight messages, drain, exit
    # within this many seconds (keep it under the pod's terminationGracePeriodSeconds).
    shutdown_grace_s: float = Field(default=25.0, gt=0)
    # Job creation per client: a token bucket refilled at this rate, holding `burst`.
    job_rate_per_minute: float = Field(default=60.0, gt=0)
    job_rate_burst: int = Field(default=20, ge=1)
    # Jobs of one client waiting for or using workers (queued, storyboarding, refining,
    # rendering) at once; more is refused with 429 until some finish.
    max_queued_jobs_per_client: int = Field(default=50, ge=1)
    # The gateway's poll cache (services/gateway/jobs/cache.py): job bodies kept for
    # GET /jobs/{id}, least recently used dropped past this many bytes (128 MiB).
    poll_cache_max_bytes: int = Field(default=134_217_728, ge=1_048_576)
    # Web console: POST /api/v2/dev/token issues a client token for any client id.
    # Development only (`make run` sets DEV_LOGIN=1); never where others can reach it.
    dev_login: bool = False

    # --- Browsers on other origins (services/gateway/http/cors.py) ---
    # Comma-separated exact origins (`https://app.example.com`) that may call /api/v2 from a
    # browser; empty = CORS off. `*` is refused at start-up: the API answers with
    # credentials allowed, which must name each origin.
    cors_allowed_origins: str = ""
    # How long a browser may reuse a preflight's answer (Chromium caps it at 7200).
    cors_max_age_s: int = Field(default=600, ge=0)

    # --- Tokens from an identity provider (services/gateway/http/identity.py, jwks.py) ---
    # RS*/PS*/ES*/EdDSA bearer tokens are verified against this JWKS; unset = only HS256
    # tokens signed with JWT_SECRET (which stays required: media tokens derive from it).
    auth_jwks_url: str | None = None
    # Required with AUTH_JWKS_URL: a token's `iss` and `aud` must match.
    auth_issuer: str | None = None
    auth_audience: str | None = None
    # Where the client id and the role are in a token's claims: a claim name, or a dotted
    # path into nested objects (`realm_access.roles`). A role list containing "admin" (or
    # the string "admin") is an admin; anything else a client.
    auth_client_id_claim: str = "sub"
    auth_role_claim: str = "role"
    # The key set is fetched again after this long; an unknown `kid` fetches it at once,
    # but at most once per `min_refresh` (so forged kids cannot flood the provider).
    auth_jwks_max_age_s: float = Field(default=300.0, gt=0)
    auth_jwks_min_refresh_s: float = Field(default=30.0, ge=0)
    auth_jwks_timeout_s: float = Field(default=5.0, gt=0)
    # Clock skew tolerated on an identity provider's `exp`, `nbf` and `iat`.
    auth_leeway_s: float = Field(default=30.0, ge=0)

    # --- Outgoing webhooks (services/gateway/webhooks/dispatcher.py) ---
    # Comma-separated host names and CIDRs a webhook may reach although they are not
    # public (loopback, private, link-local ...); empty refuses every non-public address.
    webhook_allowed_hosts: str = ""
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    # Delivery attempts in all; between them the wait doubles from the base up to the cap.
    webhook_max_attempts: int = Field(default=10, ge=1)
    webhook_retry_base_s: float = Field(default=2.0, gt=0)
    webhook_retry_cap_s: float = Field(default=3600.0, gt=0)

    # --- Replicate backend (GENERATION_BACKEND=replicate; shared/providers/replicate) ---
    # API host; None = https://api.replicate.com (tests and `make run` point it at the fake).
    replicate_base_url: str | None = None
    # Where https://replicate.delivery/... output URLs are fetched from; None = as given.
    replicate_delivery_base_url: str | None = None
    # The gateway's public URL: when set, predictions carry a webhook to
    # {public_base_url}/webhooks/replicate (polling stays as the safety net).
    public_base_url: str | None = None
    # Replicate's limits per account (lower them for a low-credit account), shared by
    # every replica through a JetStream key-value window.
    replicate_create_per_minute: int = Field(default=600, ge=1)
    replicate_requests_per_minute: int = Field(default=3000, ge=1)
    # Predictions in flight per replica.
    replicate_max_concurrency: int = Field(default=24, ge=1)
    # Status polling: starts at the minimum, grows with the prediction's age to the maximum.
    replicate_poll_min_s: float = Field(default=1.0, gt=0)
    replicate_poll_max_s: float = Field(default=10.0, gt=0)
    # Overall deadline per role; past it the prediction is canceled upstream.
    replicate_script_deadline_s: float = Field(default=120.0, gt=0)
    replicate_frame_deadline_s: float = Field(default=180.0, gt=0)
    replicate_clip_deadline_s: float = Field(default=900.0, gt=0)
    replicate_voice_deadline_s: float = Field(default=300.0, gt=0)
    # Backoff of retried requests (429, 5xx, connection errors): base, cap, attempts.
    replicate_retry_base_s: float = Field(default=0.5, gt=0)
    replicate_retry_cap_s: float = Field(default=30.0, gt=0)
    replicate_request_attempts: int = Field(default=8, ge=1)
    # A prediction that failed (not a content-policy refusal) or passed its deadline is
    # tried this many times in all, each with a new seed.
    replicate_prediction_attempts: int = Field(default=2, ge=1)
    replicate_webhook_tolerance_s: int = Field(default=300, ge=1)
    # The webhook signing secret (whsec_...); None = fetched with the API token.
    replicate_webhook_secret: SecretStr | None = None
    # Voice-over (TTS) of the script, mixed over the music bed.
    replicate_voice: bool = True
    # The pricing table (roles → models, prices); None = shared/pricing.toml.
    pricing_file: Path | None = None
    # Renders one renderer replica runs at once; None = 1 for `local` (its clips use every
    # core), 4 for `replicate` (a render mostly waits on the provider).
    render_concurrency: int | None = Field(default=None, ge=1)

    # --- Content Credentials (C2PA; services/renderer/credentials.py) ---
    # Embed a signed C2PA manifest (AI disclosure, generator, models) in every rendered file.
    c2pa_enabled: bool = True
    # PEM files: the signing certificate then its intermediates, and its private key (a
    # secret: mount it from a Secret; its content is never logged). Both unset: files go
    # out unsigned, with a warning at start-up; `make run` makes a development chain in
    # `<REELSMITH_DATA_DIR>/c2pa/` (tools/dev_signing.py).
    c2pa_signing_cert: Path | None = None
    c2pa_signing_key: Path | None = None
    # An RFC 3161 time-stamp authority: signatures stay valid after the certificate expires.
    c2pa_tsa_url: str | None = None

    @property
    def gateway_migrations_path(self) -> Path:
        """The gateway's `app.db` migrations, beside `assets/` and `billing/`."""
        return self.migrations_path / "gateway"
