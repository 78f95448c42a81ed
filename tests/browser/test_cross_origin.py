"""A page on another origin drives the API in a real Chromium: it signs in with an ES256
token from an identity provider (a local JWKS), creates a job, follows it live over the
SSE stream (fetch with the bearer header, across origins), approves, renders and plays
the video with a media token; the provider rotates its key mid-session and the page's
new token works without a gateway restart; a page on an origin not allowed is refused."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from aiohttp import web
from playwright.async_api import ConsoleMessage, Page, expect

from tests.browser.checks import play_and_seek
from tests.support.jwks import JwksServer, jwks_server
from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system

PAGE_DIR = Path(__file__).resolve().parent / "cross_origin"
CLIENT = "partner-1"


@contextlib.asynccontextmanager
async def static_site() -> AsyncIterator[str]:
    """The partner page on its own loopback port: another origin than the gateway's."""
    app = web.Application()
    app.router.add_static("/", PAGE_DIR)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class Sites:
    def __init__(self, system: System, idp: JwksServer, allowed: str, refused: str) -> None:
        self.system, self.idp, self.allowed, self.refused = system, idp, allowed, refused

    def page_url(self, origin: str) -> str:
        return f"{origin}/index.html?api={self.system.base_url}"


@pytest_asyncio.fixture
async def sites(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[Sites]:
    """An identity provider, two page origins (one allowed by CORS_ALLOWED_ORIGINS), and
    the system trusting the provider."""
    async with jwks_server() as idp, static_site() as allowed, static_site() as refused:
        idp.add_key("ES256")
        async with running_system(
            nats_server.url,
            tmp_path,
            assets_workers=0,
            cors_allowed_origins=allowed,
            **idp.settings(),
        ) as system:
            yield Sites(system, idp, allowed, refused)


async def sign_in(page: Page, token: str) -> None:
    await page.locator("#token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def test_a_page_on_another_origin_runs_a_job_end_to_end(sites: Sites, page: Page) -> None:
    system, idp = sites.system, sites.idp
    await page.goto(sites.page_url(sites.allowed))
    # Sign in with the provider's ES256 token: the gateway names the client it made of it.
    await sign_in(page, idp.mint(CLIENT))
    await expect(page.locator("#who")).to_have_text(f"{CLIENT} (client)")
    assert idp.fetches == 1

    # Create a job: the page reads its Location (an exposed header) ...
    await page.get_by_role("button", name="Create a job").click()
    await expect(page.locator("#location")).to_have_text(re.compile(r"^/api/v2/jobs/[0-9a-f]{32}$"))
    job_id = (await page.locator("#location").text_content() or "").rsplit("/", 1)[-1]
    # ... and follows it over the stream, live, to its storyboard.
    await expect(page.locator("#status")).to_have_text("storyboard_ready", timeout=60_000)
    assert "storyboard_ready" in (await page.locator("#history").text_content() or "")

    # The provider rotates its key; the page gets a token signed by the new one.
    new_kid = idp.rotate("ES256")
    await sign_in(page, idp.mint(CLIENT, kid=new_kid))
    await expect(page.locator("#error")).to_have_text("")
    await expect(page.locator("#who")).to_have_text(f"{CLIENT} (client)")
    assert idp.fetches == 2  # fetched again for the new kid; the same gateway process

    # Approve and render with the new token; the stream (opened before) shows each step.
    await page.get_by_role("button", name="Approve").click()
    await expect(page.locator("#status")).to_have_text("approved")
    await page.get_by_role("button", name="Render").click()
    await expect(page.locator("#status")).to_have_text("completed", timeout=120_000)
    history = (await page.locator("#history").text_content() or "").split()
    assert history[-3:] == ["approved", "rendering", "completed"], history
    # `completed` reaches the page only over the stream (it never polls): the stream's
    # first event and at least that one. (The storyboard may be ready before the stream
    # opens, so its own moves are not counted on.)
    assert int(await page.locator("#events").text_content() or "0") >= 2
    assert (await system.job(job_id, client_id=CLIENT))["status"] == "completed"

    # The video plays from the gateway's origin with a media token, and seeks (Range).
    await page.wait_for_function("() => document.getElementById('video').readyState >= 2")
    played = await play_and_seek(page, "#video")
    assert played["readyState"] >= 3 and played["width"] > 0
    assert abs(played["time"] - played["target"]) < 0.5


async def test_a_page_on_an_origin_not_allowed_is_refused(sites: Sites, page: Page) -> None:
    messages: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        messages.append(message.text)

    page.on("console", keep)
    await page.goto(sites.page_url(sites.refused))
    # A valid token, yet the browser refuses the call: the preflight was a 403.
    await sign_in(page, sites.idp.mint(CLIENT))
    await expect(page.locator("#error")).to_have_text("TypeError: Failed to fetch")
    await expect(page.locator("#who")).to_have_text("nobody")
    await expect(page.get_by_role("button", name="Create a job")).to_be_disabled()
    # Chromium says why: the preflight's answer did not allow this origin.
    assert any("CORS policy" in text and "preflight" in text for text in messages), messages
