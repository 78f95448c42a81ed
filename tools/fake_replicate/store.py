"""Bytes the fake serves: prediction outputs (delivery paths) and uploaded files."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tools.fake_replicate.records import iso, now_utc

UPLOAD_LIFETIME = timedelta(hours=24)
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # ids look like Replicate's base32 ones


@dataclass(frozen=True)
class Blob:
    data: bytes
    content_type: str


@dataclass
class Upload:
    id: str
    name: str
    blob: Blob
    metadata: dict[str, Any]
    created_at: datetime = field(default_factory=now_utc)

    def as_json(self, base_url: str) -> dict[str, Any]:
        data = self.blob.data
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.blob.content_type,
            "size": len(data),
            "etag": hashlib.md5(data).hexdigest(),
            "checksums": {
                "sha256": hashlib.sha256(data).hexdigest(),
                "md5": hashlib.md5(data).hexdigest(),
            },
            "metadata": self.metadata,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.created_at + UPLOAD_LIFETIME),
            "urls": {"get": f"{base_url}/v1/files/{self.id}"},
        }


class BlobStore:
    def __init__(self) -> None:
        self.outputs: dict[str, Blob] = {}
        self.uploads: dict[str, Upload] = {}

    def put_output(self, path: str, blob: Blob) -> None:
        self.outputs[path] = blob

    def drop_outputs(self, paths: list[str]) -> None:
        for path in paths:
            self.outputs.pop(path, None)

    def add_upload(self, name: str, blob: Blob, metadata: dict[str, Any]) -> Upload:
        upload_id = "".join(secrets.choice(ID_ALPHABET) for _ in range(26))
        upload = Upload(upload_id, name, blob, metadata)
        self.uploads[upload.id] = upload
        return upload

    def clear(self) -> None:
        self.outputs.clear()
        self.uploads.clear()
