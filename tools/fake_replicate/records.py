"""One prediction's state and its JSON, shaped like the real API's (reference §1.5)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tools.fake_replicate.catalog import ModelSpec

Status = Literal["starting", "processing", "succeeded", "failed", "canceled", "aborted"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "canceled", "aborted"})
# What `Prefer: wait` is waiting for, besides a terminal status (see `Plan.fate`).
Fate = Literal["ok", "failed", "content_policy", "hanging"]


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Plan:
    """Decided at create time from the seeded RNG: how long each phase lasts (wall seconds,
    already scaled), the nominal model seconds reported in metrics, and how it ends."""

    queue_s: float
    run_s: float
    finalize_s: float
    nominal_queue_s: float
    nominal_run_s: float
    seed: int
    fate: Fate
    llm_mode: Literal["json", "malformed", "invalid"]
    sync_processing: bool


@dataclass
class PredictionRecord:
    id: str
    spec: ModelSpec
    input: dict[str, Any]
    values: dict[str, Any]
    token: str
    plan: Plan
    seq: int
    created_at: datetime
    created_mono: float
    create_count: int = 1
    deployment: str | None = None
    status: Status = "starting"
    logs: str = ""
    output: Any = None
    output_complete: bool = False
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    started_at: datetime | None = None
    started_mono: float | None = None
    completed_at: datetime | None = None
    terminal_mono: float | None = None
    deadline: datetime | None = None
    data_removed: bool = False
    files: list[str] = field(default_factory=list)
    get_count: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def model(self) -> str:
        return self.spec.ref

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def touch(self) -> None:
        """Wake everything waiting on this prediction (sync-mode holds, streams)."""
        self.changed.set()
        self.changed = asyncio.Event()

    def as_json(self, base_url: str, *, brief: bool = False) -> dict[str, Any]:
        """The prediction as GET returns it; `brief` is the create response, which leaves out
        fields that are not known yet."""
        urls = {
            "cancel": f"{base_url}/v1/predictions/{self.id}/cancel",
            "get": f"{base_url}/v1/predictions/{self.id}",
            "web": f"https://replicate.com/p/{self.id}",
        }
        if self.spec.kind == "llm":
            urls["stream"] = f"{base_url}/v1/stream/{self.id}"
        body: dict[str, Any] = {
            "id": self.id,
            "model": self.model,
            "version": self.spec.version,
            "input": self.input,
            "logs": self.logs,
            "output": self.output,
            "data_removed": self.data_removed,
            "error": self.error,
            "status": self.status,
            "source": "api",
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "deadline": iso(self.deadline),
            "deployment": self.deployment,
            "urls": urls,
            "metrics": dict(self.metrics),
        }
        if brief:
            for key in ("output", "started_at", "completed_at", "metrics"):
                body.pop(key)
        return body
