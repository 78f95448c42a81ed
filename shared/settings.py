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
    """Every variable of DESIGN.md; secrets are `SecretStr` so they never print."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    service_name: str = "reelsmith"
    nats_url: str = "nats://127.0.0.1:4222"
    video_storage_path: Path = Path("./data/storage")
    database_path: Path = Path("./data/app.db")
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
    max_upload_bytes: int = 50 * 1024 * 1024
    otel_exporter_otlp_endpoint: str | None = None

    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    # Frames are drawn at the platform's size divided by this; benchmarks raise it.
    frame_scale_divisor: int = 1
    # Videos are rendered at the platform's size divided by this (tests use small videos).
    render_scale_divisor: int = 1
    render_workers: int = 2
    storyboard_concurrency: int = 4
    scene_concurrency: int = 3
    consumer_ack_wait_s: float = 30.0
    consumer_max_deliver: int = 5
