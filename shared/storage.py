"""Media storage addressed by key (`storyboards/{job_id}/scene_1.jpg`), never by a
path a client chose. Writes are atomic: a reader sees the whole object or nothing.

Example::

    storage = LocalStorage(settings.video_storage_path)
    await storage.put("storyboards/j1/scene_1.jpg", jpeg_bytes)
    async for chunk in storage.open("storyboards/j1/scene_1.jpg"): ...
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-][A-Za-z0-9_.\-]*)*$")
CHUNK = 256 * 1024


class InvalidKey(ValueError):
    pass


class Storage(Protocol):
    async def put(self, key: str, data: bytes | AsyncIterable[bytes]) -> int: ...
    def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]: ...
    async def exists(self, key: str) -> bool: ...
    async def size(self, key: str) -> int: ...
    async def delete(self, key: str) -> None: ...
    def url(self, key: str) -> str: ...


def check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key.split("/"):
        raise InvalidKey(f"invalid storage key: {key!r}")
    return key


class LocalStorage:
    """Filesystem implementation rooted at `VIDEO_STORAGE_PATH`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put_sync(self, key: str, data: bytes) -> int:
        """`put` of bytes, blocking: for code already on a worker thread (drawing a frame
        and storing it is then one thread hop, not two)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            partial.write_bytes(data)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return len(data)

    async def put(self, key: str, data: bytes | AsyncIterable[bytes]) -> int:
        if isinstance(data, bytes):
            return await asyncio.to_thread(self.put_sync, key, data)
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        written = 0
        try:
            with partial.open("wb") as fh:
                async for chunk in data:
                    await asyncio.to_thread(fh.write, chunk)
                    written += len(chunk)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return written

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes `start..end` (end exclusive) in chunks."""
        path = self.path(key)
        with path.open("rb") as fh:
            fh.seek(start)
            remaining = None if end is None else end - start
            while remaining is None or remaining > 0:
                size = CHUNK if remaining is None else min(CHUNK, remaining)
                chunk = await asyncio.to_thread(fh.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    async def read(self, key: str) -> bytes:
        return await asyncio.to_thread(self.path(key).read_bytes)

    async def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    async def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    async def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return self.path(key).as_uri()
