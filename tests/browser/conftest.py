"""Fixtures for driving the web console in a real browser: Debian's Chromium through
Playwright, against the real system (gateway with the development login, workers and a
billing service for estimates)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, Page, async_playwright

from services.billing.__main__ import serve as serve_billing
from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system
from tests.support.waiting import eventually

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "console"


@pytest_asyncio.fixture
async def console_system(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[System]:
    """The system with `DEV_LOGIN` on and a billing service answering estimates."""
    async with running_system(nats_server.url, tmp_path, dev_login=True) as system:
        system._start(serve_billing, "billing", {"database_path": tmp_path / "billing.db"})
        # Health-gated: the console asks for an estimate as soon as the brief is complete.
        brief = {"campaign_id": "c", "prompt": "p", "platform": "tiktok", "duration_s": 10}
        await eventually(
            lambda: system.call("POST", "/api/v2/estimate", json=brief),
            lambda answer: answer[0] == 200,
        )
        yield system


def require_chromium() -> None:
    """Missing Chromium is a failure, never a skip: `make test-tools` installs it."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run `make test-tools` "
            "(apt-get install chromium) or set CHROMIUM_PATH",
            pytrace=False,
        )


@pytest_asyncio.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """Debian's Chromium, headless, with a fresh profile."""
    require_chromium()
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 960},
            accept_downloads=True,
        )
        try:
            yield context
        finally:
            await context.close()


@pytest_asyncio.fixture
async def page(browser: BrowserContext) -> AsyncIterator[Page]:
    """A tab whose uncaught script errors fail the test."""
    tab = browser.pages[0] if browser.pages else await browser.new_page()
    tab.set_default_timeout(20_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    assert not errors, f"uncaught errors in the console: {errors}"
