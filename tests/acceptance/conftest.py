"""Systems that render ads big enough to be read back: the real gateway, storyboard,
renderer and assets services on the session's nats-server, at a phone's readable size."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from services.billing.__main__ import serve as serve_billing
from tests.support.nats_server import NatsServer
from tests.support.replicate_backend import replicate_settings, started_fake
from tests.support.system import System, running_system
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate


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


@pytest_asyncio.fixture
async def fake_replicate() -> AsyncIterator[FakeReplicate]:
    """The fake Replicate server as the integration tests run it: model latencies scaled by
    0.01, media at an eighth of the model's size (the engine draws every word itself)."""
    async with started_fake(latency_scale=0.01) as fake:
        yield fake


@pytest_asyncio.fixture
async def replicate_phone_system(
    nats_server: NatsServer, tmp_path: Path, fake_replicate: FakeReplicate
) -> AsyncIterator[System]:
    """`phone_system` on the replicate backend (the fake's models), with billing (the
    gateway prices a replicate brief before it accepts it)."""
    settings = replicate_settings(fake_replicate)
    async with running_system(
        nats_server.url, tmp_path, render_scale_divisor=2, frame_scale_divisor=4, **settings
    ) as running:
        running._start(serve_billing, "billing", {"database_path": tmp_path / "billing.db"})
        yield await _assets_ready(running)
