"""Response and form models of the gateway's own answers (the domain's live in
`shared/`): views serialise through them, and the OpenAPI document is generated from
them, so the two cannot disagree."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from shared.assets import AssetKind


class ErrorInfo(BaseModel):
    code: str = Field(
        description="Machine-readable: bad_request, unauthorized, forbidden, not_found, "
        "conflict, payload_too_large, unsupported_media_type, validation_error, "
        "daily_budget_exhausted, upstream_error, unavailable, internal, ...",
        examples=["validation_error"],
    )
    message: str = Field(description="For people; names the offending fields or state.")
    details: Any = Field(
        default=None,
        description="For a `validation_error`, a list of `{field, message, type}`; "
        "otherwise an object with context (e.g. the budget state) or null.",
    )


class Error(BaseModel):
    """Every 4xx and 5xx JSON answer: `{"error": {"code", "message", "details"}}`."""

    error: ErrorInfo


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    service: str = "gateway"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    nats: bool = Field(description="Connected to NATS.")
    db: bool = Field(description="The gateway's SQLite database answers.")


def _without_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class AssetUpload(BaseModel):
    """The multipart form of an upload (documentation only: the view streams it)."""

    file: bytes = Field(
        description="The file: an image, logo, font, audio track or video, at most "
        "MAX_UPLOAD_BYTES (50 MiB by default). Checked by content, not by name.",
        json_schema_extra={"format": "binary", "contentMediaType": "application/octet-stream"},
    )
    # A form field is absent or a string, never null; an empty one (a browser's unset
    # <select>) counts as absent.
    kind: AssetKind | Literal[""] | SkipJsonSchema[None] = Field(
        default=None,
        description="What the file is for; guessed from its content when absent or empty.",
        json_schema_extra=_without_default,
    )
