"""Fixtures: one real nats-server per test run; a fresh system (gateway + storyboard
worker, own SQLite file and storage) per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A JetStream server on random loopback ports, health-gated, for the whole run."""
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest_asyncio.fixture
async def system(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[System]:
    """Gateway on a loopback port plus one storyboard worker, streams cleaned after."""
    async with running_system(nats_server.url, tmp_path) as running:
        yield running
