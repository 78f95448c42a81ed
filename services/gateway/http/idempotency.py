"""`Idempotency-Key` on the POSTs that create something: the same key with the same body
answers with the first response again (`Idempotent-Replayed: true`) instead of doing the
work twice; the same key with another body is `409 idempotency_key_reused`.

- Keys are per client (another client's identical key is unrelated) and kept 24 h.
- "Same body" is a SHA-256 over the method, the path and the body bytes. An upload is
  never held in memory: its fingerprint is the SHA-256 of the stored file (which the
  assets service reports), and a repeat's file part is hashed as it streams by, then
  dropped. Multipart framing (the boundary) differs on every send, so only the file's
  bytes count for uploads.
- Only a successful (2xx) response is remembered. A refused request wrote nothing, so the
  key is released and the request can be sent again, with the same key, once fixed.
- A request arriving while the first with its key is still running is answered
  `409 idempotency_key_in_progress` with `Retry-After: 1` at once (not held open). A
  claim older than 5 minutes is taken to be abandoned (its gateway died) and is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from dataclasses import dataclass

import orjson
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.payload import BytesPayload
from aiohttp.typedefs import Handler

from services.gateway.appkeys import DB, SETTINGS
from services.gateway.contract.operations import IDEMPOTENCY_HEADER
from services.gateway.http.auth import principal_of
from services.gateway.http.errors import ApiError, PayloadTooLarge
from services.gateway.http.multipart import FORM_OVERHEAD, READ_CHUNK
from shared.db import NOW_SQL, Database
from shared.logging import get_logger
from shared.pruning import PruneThrottle

log = get_logger(__name__)

HEADER = IDEMPOTENCY_HEADER
REPLAYED = "Idempotent-Replayed"
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
TTL_S = 86_400
ABANDONED_S = 300
PRUNE_EVERY_S = 600.0
KEPT_HEADERS = ("Content-Type", "Location")


class KeyReused(ApiError):
    status = 409
    code = "idempotency_key_reused"


class KeyInProgress(ApiError):
    status = 409
    code = "idempotency_key_in_progress"


@dataclass(frozen=True)
class Remembered:
    """A key already seen: still running, or done with the response to replay."""

    done: bool
    fingerprint: str | None
    status: int | None
    headers: dict[str, str]
    body: bytes

    def replay(self) -> web.Response:
        if self.status is None:
            # `complete` stores the status with `done`; a done key without one is corrupt.
            raise RuntimeError("idempotency record is done but has no response status")
        return web.Response(
            body=self.body, status=self.status, headers={**self.headers, REPLAYED: "true"}
        )


def fingerprint(method: str, path: str, content: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), content):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def file_fingerprint(method: str, path: str, file_sha256: str) -> str:
    return fingerprint(method, path, b"file-sha256:" + file_sha256.encode())


class IdempotencyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def begin(
        self, client_id: str, key: str, method: str, path: str, fingerprint: str | None
    ) -> Remembered | None:
        """Claim `key` for this request (None), or what an earlier request left."""
        async with self.db.transaction() as tx:
            # Expired keys, and claims whose request died with its gateway, are forgotten.
            await tx.execute(
                "DELETE FROM idempotency_keys WHERE client_id = ? AND key = ? AND"
                f" (expires_at < {NOW_SQL} OR (state = 'in_progress' AND created_at <"
                " strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)))",
                (client_id, key, f"-{ABANDONED_S} seconds"),
            )
            row = await tx.fetchone(
                "SELECT state, fingerprint, status, headers, body FROM idempotency_keys"
                " WHERE client_id = ? AND key = ?",
                (client_id, key),
            )
            if row is None:
                await tx.execute(
                    "INSERT INTO idempotency_keys (client_id, key, method, path, fingerprint,"
                    " expires_at) VALUES (?, ?, ?, ?, ?,"
                    " strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?))",
                    (client_id, key, method, path, fingerprint, f"+{TTL_S} seconds"),
                )
                return None
        return Remembered(
            done=row["state"] == "done",
            fingerprint=row["fingerprint"],
            status=row["status"],
            headers=orjson.loads(row["headers"] or "{}"),
            body=bytes(row["body"] or b""),
        )

    async def complete(
        self, client_id: str, key: str, fingerprint: str, response: web.Response, body: bytes
    ) -> None:
        headers = {
            name: response.headers[name] for name in KEPT_HEADERS if name in response.headers
        }
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE idempotency_keys SET state = 'done', fingerprint = ?, status = ?,"
                " headers = ?, body = ? WHERE client_id = ? AND key = ?",
                (fingerprint, response.status, orjson.dumps(headers), body, client_id, key),
            )

    async def release(self, client_id: str, key: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM idempotency_keys WHERE client_id = ? AND key = ? AND state != 'done'",
                (client_id, key),
            )

    async def prune(self) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(f"DELETE FROM idempotency_keys WHERE expires_at < {NOW_SQL}")


async def idempotent(request: web.Request, handler: Handler, upload: bool) -> web.StreamResponse:
    """Run `handler` for a view declared `@operation(idempotent=True)`: once per
    `Idempotency-Key` (its answer replayed after), or plainly when the request has no key."""
    key = request.headers.get(HEADER)
    if key is None:
        return await handler(request)
    if not KEY.match(key):
        raise ApiError(f"{HEADER} must be 1-255 visible ASCII characters")
    client_id = principal_of(request).client_id
    path = request.path_qs
    # A JSON body is at most 1 MiB (read() enforces it) and the view reads it again from
    # aiohttp's copy; an upload is not read here.
    known = None if upload else fingerprint(request.method, path, await request.read())
    store = IdempotencyStore(request.app[DB])
    seen = await store.begin(client_id, key, request.method, path, known)
    if seen is None:
        return await _first(request, handler, store, client_id, key, known)
    if not seen.done:
        if known is not None and seen.fingerprint not in (None, known):
            raise _reused()
        raise KeyInProgress(
            "a request with this Idempotency-Key is still being processed; try again shortly",
            headers={"Retry-After": "1"},
        )
    if upload:
        limit = request.app[SETTINGS].max_upload_bytes
        known = file_fingerprint(request.method, path, await _streamed_file_sha256(request, limit))
    if known != seen.fingerprint:
        raise _reused()
    log.info("idempotency.replayed", extra={"path": request.path})
    return seen.replay()


def _reused() -> KeyReused:
    return KeyReused(
        "this Idempotency-Key was used with a different request; use a new key for a new request"
    )


async def _first(
    request: web.Request,
    handler: Handler,
    store: IdempotencyStore,
    client_id: str,
    key: str,
    known: str | None,
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except BaseException:
        await asyncio.shield(store.release(client_id, key))
        raise
    body = await _body_bytes(response)
    # Only an in-memory response has a body to remember (a stream or a file has none).
    if not isinstance(response, web.Response) or not 200 <= response.status < 300 or body is None:
        await store.release(client_id, key)
        return response
    if known is None:
        known = file_fingerprint(request.method, request.path_qs, orjson.loads(body)["sha256"])
    await store.complete(client_id, key, known, response, body)
    return response


async def _body_bytes(response: web.StreamResponse) -> bytes | None:
    """The body of an in-memory response (bytes or text); None for a stream or a file."""
    body = response.body if isinstance(response, web.Response) else None
    if isinstance(body, bytes):
        return body
    if isinstance(body, BytesPayload):
        return await body.as_bytes()
    return None


async def _streamed_file_sha256(request: web.Request, limit: int) -> str:
    """SHA-256 of a repeated upload's `file` part, hashed as it streams by (nothing kept)."""
    if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
        raise PayloadTooLarge(f"the upload is larger than the limit of {limit} bytes")
    if request.content_type != "multipart/form-data":
        raise _reused()
    digest, size, other = hashlib.sha256(), 0, 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ApiError("nested multipart bodies are not accepted")
            while chunk := await part.read_chunk(READ_CHUNK):
                if part.name == "file":
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(f"the file is larger than the limit of {limit} bytes")
                    digest.update(chunk)
                else:
                    other += len(chunk)
                    if other > FORM_OVERHEAD:
                        raise PayloadTooLarge("form fields other than `file` are too large")
    except (ValueError, HttpProcessingError) as exc:
        raise ApiError(f"malformed multipart body ({exc.__class__.__name__})") from None
    return digest.hexdigest()


async def prune_expired_keys(db: Database, stop: asyncio.Event) -> None:
    """Delete expired keys every 10 minutes until `stop` (a background loop)."""
    store = IdempotencyStore(db)
    throttle = PruneThrottle(PRUNE_EVERY_S)
    while not stop.is_set():
        try:
            await throttle.maybe(store.prune)
        except Exception:
            log.exception("idempotency.prune_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), throttle.until_due_s())
