"""An upload's multipart body, read as it streams in: the `file` part goes to storage in
slices and is refused (413) the moment it passes the byte limit, so an upload is never
held in memory; the `kind` field is read whole (it is short); other fields are skipped,
but counted, since nothing but the file may be large.

Example::

    form = await read_form(await request.multipart(), storage, incoming_key(id), limit)
    form.size, form.filename, form.content_type, form.kind
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import BodyPartReader, MultipartReader, hdrs

from services.gateway.http.errors import ApiError, PayloadTooLarge, Unprocessable
from shared.assets import ASSET_KINDS, AssetKind
from shared.storage import LocalStorage

# Room for boundaries, part headers and the `kind` field on top of the file itself.
FORM_OVERHEAD = 64 * 1024
READ_CHUNK = 256 * 1024
# Writes go to disk in 1 MiB slices: fewer thread hops than per socket read, still small.
WRITE_SLICE = 1024 * 1024
KIND_FIELD_MAX = 64


@dataclass
class UploadForm:
    size: int | None = None  # None until the `file` part has been stored
    filename: str | None = None
    content_type: str | None = None
    kind: AssetKind | None = None


async def read_form(
    reader: MultipartReader, storage: LocalStorage, temp: str, limit: int
) -> UploadForm:
    """Store the `file` part at `temp` (at most `limit` bytes) and read the other fields."""
    form = UploadForm()
    other_bytes = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError("nested multipart bodies are not accepted")
        if part.name == "file":
            if form.size is not None:
                raise ApiError("send exactly one `file` field")
            form.filename = part.filename
            form.content_type = part.headers.get(hdrs.CONTENT_TYPE)
            form.size = await storage.put(temp, _limited(part, limit))
        elif part.name == "kind":
            form.kind = _kind(await _small_field(part))
        else:
            # Unknown fields are skipped, but count: nothing but the file may be large.
            while chunk := await part.read_chunk(READ_CHUNK):
                other_bytes += len(chunk)
                if other_bytes > FORM_OVERHEAD:
                    raise PayloadTooLarge("form fields other than `file` are too large")
    return form


async def _limited(part: BodyPartReader, limit: int) -> AsyncIterator[bytes]:
    """The part's bytes in slices; PayloadTooLarge the moment one byte passes `limit`
    (the caller stops reading there and storage drops the partial object)."""
    received = 0
    pending = bytearray()
    while chunk := await part.read_chunk(READ_CHUNK):
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"the file is larger than the limit of {limit} bytes")
        pending += chunk
        if len(pending) >= WRITE_SLICE:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


async def _small_field(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(READ_CHUNK):
        data += chunk
        if len(data) > KIND_FIELD_MAX:
            raise ApiError("the `kind` field is too long")
    return data.decode("utf-8", errors="replace").strip()


def _kind(value: str) -> AssetKind | None:
    if not value:
        return None
    if value not in ASSET_KINDS:
        raise Unprocessable(
            f"kind must be one of {', '.join(ASSET_KINDS)}",
            [{"field": "kind", "message": "unknown kind", "type": "literal_error"}],
        )
    return value
