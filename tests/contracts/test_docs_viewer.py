"""`GET /docs`: the API documentation viewer, served by the gateway with everything it
loads, so it works without network access; rendered in a real (offline) Chromium."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from playwright.async_api import Request, async_playwright, expect

from services.gateway.contract.document import build_document
from tests.contracts.openapi_support import operations
from tests.support.system import System

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWER_DIR = Path(__file__).resolve().parents[2] / "services/gateway/contract/docs_viewer"


class _Loads(HTMLParser):
    """The URLs a page loads by itself: scripts, stylesheets, icons, images, frames."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img", "iframe", "video", "audio", "source") and values.get("src"):
            self.urls.append(values["src"] or "")
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")


async def test_docs_page_and_its_files_are_served_by_the_gateway(system: System) -> None:
    # The page answers without a token, as HTML, with a same-origin-only policy.
    async with system.http.get(system.base_url + "/docs") as response:
        assert response.status == 200 and response.content_type == "text/html"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        html = await response.text()
        etag = response.headers["ETag"]
    loads = _Loads()
    loads.feed(html)
    assert loads.urls, "the page loads its script and stylesheet"
    # Everything it loads comes from the gateway itself, and is there.
    for url in loads.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        async with system.http.get(system.base_url + url) as response:
            assert response.status == 200, url
            assert response.content_type in ("text/javascript", "text/css"), url
    # No file of the viewer names another host (no CDN, no web fonts, no analytics).
    for path in VIEWER_DIR.iterdir():
        text = path.read_text()
        assert "http://" not in text and "https://" not in text, path.name
    # Revalidation is cheap; unknown or escaping names are a JSON 404.
    async with system.http.get(
        system.base_url + "/docs", headers={"If-None-Match": etag}
    ) as response:
        assert response.status == 304
    for name in ("nope.js", "..%2Fcontracts.py", "index.html.bak"):
        async with system.http.get(f"{system.base_url}/docs/{name}") as response:
            assert response.status == 404, name
            assert (await response.json())["error"]["code"] == "not_found"


async def test_docs_render_every_operation_in_an_offline_browser(system: System) -> None:
    doc = build_document(system.app)
    documented = [(method, path) for path, method, _ in operations(doc)]
    elsewhere: list[str] = []

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()

            # Anything not asked of the gateway would fail here: record and refuse it.
            async def only_the_gateway(route: Any, request: Request) -> None:
                if request.url.startswith(system.base_url):
                    await route.continue_()
                else:
                    elsewhere.append(request.url)
                    await route.abort()

            await page.route("**/*", only_the_gateway)
            await page.goto(system.base_url + "/docs")
            await page.wait_for_selector("body[data-ready=true]", timeout=15_000)

            # One entry per documented operation, in the page and in the navigation.
            await expect(page.locator("details.op")).to_have_count(len(documented))
            await expect(page.locator("nav a[data-op]")).to_have_count(len(documented))
            await expect(page.locator("#schema-Job")).to_have_count(1)

            # A public operation, tried from the page: the real answer is shown.
            health = page.locator("#op-healthz")
            await health.locator("summary").click()
            await health.locator("form.try button[type=submit]").click()
            await expect(health.locator(".output strong.status")).to_have_text("200")
            await expect(health.locator(".output pre")).to_contain_text('"status": "ok"')

            # With a token pasted in, an authenticated call succeeds too.
            await page.fill("#token", system.token())
            await page.click("#auth button[type=submit]")
            jobs = page.locator("#op-list_jobs")
            await jobs.locator("summary").click()
            await jobs.locator("table.fields").first.wait_for()  # its parameters, once drawn
            await jobs.locator("form.try button[type=submit]").click()
            await expect(jobs.locator(".output strong.status")).to_have_text("200")
            await expect(jobs.locator(".output pre")).to_contain_text('"items"')

            # A request body is prefilled with the documented example.
            create = page.locator("#op-create_job")
            await create.locator("summary").click()
            await expect(create.locator("textarea")).to_have_value(
                re.compile(r'"campaign_id": "spring-launch"')
            )
        finally:
            await browser.close()
    assert elsewhere == []
