"""The assets service's contract: request/reply bodies of `assets.ingest`, `assets.get`,
`assets.list` and `assets.delete` (core NATS, no stream), and the asset resource the
gateway answers with.

Every reply carries either its result or `error`; a caller checks `error` first.

Example::

    body = IngestRequest(asset_id=new_id(), client_id="c1", temp_key="incoming/ab12", bytes=n)
    reply = await bus.request(INGEST, body, AssetReply, timeout_s=INGEST_TIMEOUT_S)
    if reply.error: ...
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from shared.micro import ErrorBody

SCHEMA_VERSION = 1

INGEST = "assets.ingest"
GET = "assets.get"
LIST = "assets.list"
DELETE = "assets.delete"

# Validating a 50 MiB file (hash, full demux, first frames) takes about a second; the
# slack covers a queue of uploads ahead of it in the one assets replica.
INGEST_TIMEOUT_S = 60.0
QUERY_TIMEOUT_S = 5.0

AssetKind = Literal["image", "logo", "font", "audio", "video"]
ASSET_KINDS: tuple[AssetKind, ...] = ("image", "logo", "font", "audio", "video")
ErrorCode = Literal[
    "invalid_request", "not_found", "unsupported_media_type", "payload_too_large", "internal"
]

AssetId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
# A client id becomes a storage key segment (`uploads/{client_id}/...`).
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}$"
ClientId = Annotated[str, StringConstraints(pattern=CLIENT_ID_PATTERN)]
HexColor = Annotated[str, StringConstraints(pattern=r"^#[0-9a-f]{6}$")]

_UNSAFE_NAME_CHARS = re.compile(r"[\\/]")
_CLIENT_ID = re.compile(CLIENT_ID_PATTERN)
MAX_NAME_CHARS = 255


def can_own_uploads(client_id: str) -> bool:
    """Whether `client_id` can name a storage folder (JWT subjects are free text)."""
    return bool(_CLIENT_ID.match(client_id))


def display_name(name: str | None) -> str | None:
    """A client's file name made safe to show: last path segment, NFC, no control or
    format characters (NUL, bidi overrides), at most 255 characters. Never a path.

    Example: `display_name("../../etc/pa\\u202esswd\\x00.png")` → `"passwd.png"`
    """
    if not name:
        return None
    name = unicodedata.normalize("NFC", name)
    name = _UNSAFE_NAME_CHARS.split(name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " ")
    name = name.strip(" .")[:MAX_NAME_CHARS]
    return name or None


class AssetError(ErrorBody):
    """Why the assets service could not serve a request: every service's error body
    (`ErrorBody`), with the assets service's codes."""

    code: ErrorCode


class Asset(BaseModel):
    """One registered upload, as `assets.db` holds it."""

    schema_version: int = SCHEMA_VERSION
    id: AssetId
    client_id: str
    kind: AssetKind
    mime_type: str
    bytes: int = Field(ge=0)
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    key: str = Field(description="Storage key: uploads/{client_id}/{id}.{ext}")
    thumbnail_key: str | None = None
    dominant_colors: list[HexColor] = Field(default_factory=list)
    original_name: str | None = Field(default=None, description="Display only, sanitised.")
    sha256: str
    created_at: datetime


class IngestRequest(BaseModel):
    """Validate the file the gateway streamed to `temp_key` and register it as
    `asset_id`; the temp object is moved into place or deleted, never left behind."""

    schema_version: int = SCHEMA_VERSION
    asset_id: AssetId
    client_id: ClientId
    temp_key: Annotated[str, StringConstraints(pattern=r"^incoming/[0-9a-f]{32}$")]
    bytes: int = Field(ge=0)
    declared_kind: AssetKind | None = None
    declared_mime: str | None = Field(default=None, max_length=200)
    original_name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)


class GetRequest(BaseModel):
    """Look up assets by id; `client_id` None (an admin) sees every client's."""

    schema_version: int = SCHEMA_VERSION
    client_id: str | None
    asset_ids: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        min_length=1, max_length=50
    )


class ListRequest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    client_id: str | None
    kind: AssetKind | None = None
    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)


class DeleteRequest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    client_id: str | None
    asset_id: Annotated[str, StringConstraints(max_length=64)]


class AssetReply(BaseModel):
    """Reply of `assets.ingest`."""

    asset: Asset | None = None
    error: AssetError | None = None


class GetReply(BaseModel):
    """Reply of `assets.get`: the assets found (in request order) and the ids that name
    nothing the caller may see (unknown, or another client's)."""

    assets: list[Asset] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
    error: AssetError | None = None


class ListReply(BaseModel):
    assets: list[Asset] = Field(default_factory=list)
    next_cursor: str | None = None
    error: AssetError | None = None


class DeleteReply(BaseModel):
    deleted: bool = False
    error: AssetError | None = None


class AssetResource(BaseModel):
    """An asset as the HTTP API shows it (`POST /api/v2/assets` answers this, 201)."""

    asset_id: str
    url: str
    kind: AssetKind
    mime_type: str
    bytes: int
    width: int | None
    height: int | None
    duration_s: float | None
    thumbnail_url: str | None
    dominant_colors: list[str]
    original_name: str | None
    sha256: str
    created_at: datetime

    @classmethod
    def of(cls, asset: Asset, base: str = "/api/v2/assets") -> AssetResource:
        url = f"{base}/{asset.id}"
        return cls(
            asset_id=asset.id,
            url=f"{url}/content",
            kind=asset.kind,
            mime_type=asset.mime_type,
            bytes=asset.bytes,
            width=asset.width,
            height=asset.height,
            duration_s=asset.duration_s,
            thumbnail_url=f"{url}/thumbnail.jpg" if asset.thumbnail_key else None,
            dominant_colors=list(asset.dominant_colors),
            original_name=asset.original_name,
            sha256=asset.sha256,
            created_at=asset.created_at,
        )


class AssetPage(BaseModel):
    items: list[AssetResource]
    next_cursor: str | None = None
