"""Watch files appear under a folder and notice any that is written more than once
(a clip encoded twice, a frame redrawn): each write of our storage is an atomic rename,
so a rewrite shows up as a new inode."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path


class FileVersions:
    def __init__(self, root: Path, pattern: str) -> None:
        self.root = root
        self.pattern = pattern
        self.versions: dict[Path, set[tuple[int, int]]] = {}

    def scan(self) -> None:
        for path in self.root.glob(self.pattern):
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                self.versions.setdefault(path, set()).add((stat.st_ino, stat.st_mtime_ns))

    def rewritten(self) -> list[Path]:
        self.scan()
        return sorted(p for p, seen in self.versions.items() if len(seen) > 1)

    def count(self) -> int:
        self.scan()
        return len(self.versions)

    async def counted(self) -> int:
        """`count` as a probe for `eventually`."""
        return self.count()

    @contextlib.asynccontextmanager
    async def watching(self, every_s: float = 0.05) -> AsyncIterator[FileVersions]:
        async def poll() -> None:
            while True:
                self.scan()
                await asyncio.sleep(every_s)

        task = asyncio.create_task(poll())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.scan()
