"""A prediction as Replicate's API returns it, without the SDK: the gateway reads it from
webhooks (`inbox.py`) and must not import the SDK's client to do so."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})


class PredictionState(BaseModel):
    """A prediction as the API returns it. Unlike the client's model this accepts any
    status (`aborted` came in 2025-10) and a missing `model`/`version`."""

    id: str
    model: str = ""
    version: str | None = None
    status: str
    input: dict[str, Any] | None = None
    output: Any = None
    error: str | None = None
    logs: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    data_removed: bool = False
    urls: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, raw: Any) -> PredictionState:
        data = raw if isinstance(raw, dict) else raw.dict()
        data = {**data, "metrics": data.get("metrics") or {}, "urls": data.get("urls") or {}}
        return cls.model_validate(data)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL
