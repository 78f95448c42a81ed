"""Fixtures: a fake Replicate server on a loopback port, and the official client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest_asyncio
import replicate

from tools.fake_replicate import FakeConfig, FakeReplicate

TOKEN = "r8_test"
FAST: dict[str, Any] = {"token": TOKEN, "latency_scale": 0.01, "resolution_divisor": 8, "seed": 7}
POLL_INTERVAL_S = 0.02

MakeFake = Callable[..., Awaitable[FakeReplicate]]


def client_for(fake: FakeReplicate, token: str = TOKEN) -> replicate.Client:
    """The official client, polling fast, reading replicate.delivery URLs from the fake."""
    client = replicate.Client(
        api_token=token, base_url=fake.base_url, transport=fake.delivery_transport()
    )
    client.poll_interval = POLL_INTERVAL_S
    return client


@pytest_asyncio.fixture
async def make_fake() -> AsyncIterator[MakeFake]:
    """Start fakes with `FAST` settings overridden by keyword; all stopped after the test."""
    started: list[FakeReplicate] = []

    async def make(**overrides: Any) -> FakeReplicate:
        fake = FakeReplicate(FakeConfig(**{**FAST, **overrides}))
        await fake.start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        await fake.stop()


@pytest_asyncio.fixture
async def fake(make_fake: MakeFake) -> FakeReplicate:
    """A fast fake with default faults (none)."""
    return await make_fake()


@pytest_asyncio.fixture
async def client(fake: FakeReplicate) -> replicate.Client:
    return client_for(fake)


@pytest_asyncio.fixture
async def http(fake: FakeReplicate) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP to the fake with the test token, to see bodies and headers the client hides."""
    async with httpx.AsyncClient(
        base_url=fake.base_url, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as raw:
        yield raw
