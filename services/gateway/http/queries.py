"""Query-string models: views read their parameters through them, and the OpenAPI
document lists them as query parameters."""

from __future__ import annotations

import re
from datetime import date
from typing import Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError, field_validator

from services.gateway.http.errors import ApiError, validation_details
from shared.assets import AssetKind
from shared.models import JobStatus

Q = TypeVar("Q", bound=BaseModel)


def read_query(request: web.Request, model: type[Q]) -> Q:
    """The query string as `model`; 400 naming the parameters that do not fit."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        details = validation_details(exc)
        names = ", ".join(sorted({d["field"] for d in details}))
        raise ApiError(f"invalid query: {names}", details) from None


class JobListQuery(BaseModel):
    status: JobStatus | None = Field(default=None, description="Only jobs in this status.")
    campaign_id: str | None = Field(default=None, description="Only this campaign's jobs.")
    limit: int = Field(default=20, ge=1, le=100, description="Jobs per page.")
    cursor: str | None = Field(
        default=None, description="`next_cursor` of the previous page: the next, older jobs."
    )


class VariationQuery(BaseModel):
    variation: int = Field(default=1, description="Which variation (1-based).")


class FrameQuery(BaseModel):
    v: str | None = Field(
        default=None,
        description="Cache-busting version from `image_url`; any value serves the frame.",
    )


class AssetListQuery(BaseModel):
    kind: AssetKind | None = Field(default=None, description="Only assets of this kind.")
    limit: int = Field(default=20, ge=1, le=100, description="Assets per page.")
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page.")


class EstimateQuery(BaseModel):
    backend: Literal["local", "replicate"] | None = Field(
        default=None,
        description="Price on this backend instead of the deployment's own "
        "(`replicate` prices real models even when the gateway runs `local`).",
    )


class BudgetQuery(BaseModel):
    on_budget: Literal["pause", "reject"] = Field(
        default="pause",
        description="Paid work over the hard daily limit: `pause` (default) accepts the job "
        "and holds it (`status: paused`, resumed by itself at UTC midnight or when an admin "
        "raises today's limit); `reject` answers 429 `daily_budget_exhausted` with "
        "`Retry-After` instead.",
    )


class LimitsQuery(BaseModel):
    days: int = Field(
        default=7, ge=1, le=366, description="Changes of the last N UTC days (today included)."
    )


class SummaryQuery(BaseModel):
    day: date | None = Field(
        default=None, description="One UTC day (YYYY-MM-DD); default the last 30 days."
    )

    @field_validator("day", mode="before")
    @classmethod
    def _iso_day(cls, value: object) -> object:
        # pydantic would read `?day=0` as a Unix timestamp; a query names a calendar day.
        if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("must be a date like 2026-11-24")
        return value
