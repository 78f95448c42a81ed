"""Local storage: keys are validated, writes are atomic, reads stream in ranges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.storage import InvalidKey, LocalStorage


async def _collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


@pytest.mark.parametrize(
    "key", ["../etc/passwd", "/abs/path", "a/../b", "a//b", "", "uploads/c/x\x00.png", "ü/x"]
)
def test_unsafe_keys_are_refused(tmp_path: Path, key: str) -> None:
    # Nothing outside the root can be named.
    with pytest.raises(InvalidKey):
        LocalStorage(tmp_path).path(key)


async def test_put_read_range_delete(tmp_path: Path) -> None:
    # Bytes and streamed chunks are stored whole, read back in full or by range.
    storage = LocalStorage(tmp_path)
    assert await storage.put("videos/j/final.mp4", b"0123456789") == 10

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"ab", b"cd", b"ef"):
            yield part

    assert await storage.put("uploads/c/a.png", chunks()) == 6
    assert await storage.read("uploads/c/a.png") == b"abcdef"
    assert await _collect(storage.open("videos/j/final.mp4", 2, 5)) == b"234"
    assert await _collect(storage.open("videos/j/final.mp4")) == b"0123456789"
    assert await storage.size("videos/j/final.mp4") == 10
    assert storage.url("videos/j/final.mp4").startswith("file://")
    await storage.delete("videos/j/final.mp4")
    assert not await storage.exists("videos/j/final.mp4")


async def test_failed_stream_leaves_nothing(tmp_path: Path) -> None:
    # A stream that breaks half-way leaves neither the object nor a partial file.
    storage = LocalStorage(tmp_path)

    async def broken() -> AsyncIterator[bytes]:
        yield b"half"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.put("uploads/c/b.png", broken())
    assert not await storage.exists("uploads/c/b.png")
    assert list((tmp_path / "uploads" / "c").iterdir()) == []
