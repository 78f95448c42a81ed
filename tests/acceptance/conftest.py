"""Systems that render ads big enough to be read back: the real gateway, storyboard,
renderer and assets services on the session's nats-server, at a phone's readable size."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system
from tests.support.waiting import eventually


async def _assets_ready(system: System) -> System:
    """The system once the assets service answers (its endpoints register after start-up)."""

    async def listing() -> int:
        status, _, _ = await system.call("GET", "/api/v2/assets")
        return status

    await eventually(listing, lambda status: status == 200)
    return system


@pytest_asyncio.fixture
async def phone_system(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[System]:
    """Vertical videos at 540x960 (the platform size / 2; storyboard frames / 4): the
    smallest size whose captions OCR reads reliably."""
    async with running_system(
        nats_server.url, tmp_path, render_scale_divisor=2, frame_scale_divisor=4
    ) as running:
        yield await _assets_ready(running)


@pytest_asyncio.fixture
async def small_system(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[System]:
    """Square and landscape videos at a third of the platform size (360x360, 640x360)."""
    async with running_system(
        nats_server.url, tmp_path, render_scale_divisor=3, frame_scale_divisor=3
    ) as running:
        yield await _assets_ready(running)
