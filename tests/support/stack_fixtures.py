"""Fixtures for tests that run the system as processes: a nats-server of the test's own (so it
can be killed and restarted on the same store), the stack of services, an HTTP session.

Conftests import them: `from tests.support.stack_fixtures import http, own_nats, stack`."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from tests.support.nats_server import NatsServer
from tests.support.stack import Stack


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A JetStream server for this test alone, its store in `tmp_path/nats`."""
    workdir = tmp_path / "nats"
    workdir.mkdir()
    server = NatsServer(workdir)
    server.start()
    yield server
    if server.proc is not None:
        server.proc.send_signal(signal.SIGCONT)
    server.stop()


@pytest.fixture
def stack(own_nats: NatsServer, tmp_path: Path) -> Iterator[Stack]:
    """Services declared by the test (`stack.add`), started by it, all stopped after."""
    running = Stack(own_nats.url, tmp_path / "system")
    yield running
    running.stop()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session without aiohttp's 100-connection cap (load tests hold 200 streams)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session
