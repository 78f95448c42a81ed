"""`LocalStorage.put_sync`, the blocking write a drawing thread stores a frame with: the same
file `put` writes, whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.storage import InvalidKey, LocalStorage


async def test_put_sync_writes_what_put_reads_back(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    # A frame stored from a thread, then read as any other file.
    assert storage.put_sync("frames/job1/scene_1.jpg", b"jpeg bytes") == 10
    assert await storage.read("frames/job1/scene_1.jpg") == b"jpeg bytes"
    # Writing again replaces it; no partial file is left beside it.
    storage.put_sync("frames/job1/scene_1.jpg", b"new")
    assert await storage.read("frames/job1/scene_1.jpg") == b"new"
    assert [p.name for p in (tmp_path / "frames/job1").iterdir()] == ["scene_1.jpg"]


def test_put_sync_refuses_a_key_outside_the_root(tmp_path: Path) -> None:
    with pytest.raises(InvalidKey):
        LocalStorage(tmp_path).put_sync("../escape.jpg", b"x")
    assert not (tmp_path.parent / "escape.jpg").exists()
