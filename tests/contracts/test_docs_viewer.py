"""`GET /docs`: Swagger UI, served by the gateway with everything it loads, so it works
without network access; rendered and used in a real (offline) Chromium."""

from __future__ import annotations

import gzip
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from playwright.async_api import Page, Request, async_playwright, expect

from services.gateway.contract.document import build_document
from tests.contracts.openapi_support import operations
from tests.support.system import System

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWER_DIR = Path(__file__).resolve().parents[2] / "services/gateway/contract/docs_viewer"
YEAR = "public, max-age=31536000, immutable"


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
        assert response.headers["Cache-Control"] == "no-cache"
        html = await response.text()
        etag = response.headers["ETag"]
    loads = _Loads()
    loads.feed(html)
    names = {url.split("?")[0].rsplit("/", 1)[-1] for url in loads.urls}
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "swagger-initializer.js"} <= names
    # Everything it loads comes from the gateway itself, versioned, cacheable for a year.
    types = {"js": "text/javascript", "css": "text/css", "png": "image/png"}
    for url in loads.urls:
        assert url.startswith("/docs/") and re.search(r"\?v=[0-9a-f]{16}$", url), url
        async with system.http.get(system.base_url + url) as response:
            assert response.status == 200, url
            assert response.content_type == types[url.split("?")[0].rsplit(".", 1)[-1]], url
            assert response.headers["Cache-Control"] == YEAR, url
            assert response.headers["X-Content-Type-Options"] == "nosniff", url
    # Our own files name no other host (no CDN, no web fonts, no analytics, no validator).
    for path in VIEWER_DIR.iterdir():
        text = path.read_text()
        assert "http://" not in text and "https://" not in text, path.name
    # It is Swagger UI 5, the first to read OpenAPI 3.1.
    bundle = next(url for url in loads.urls if "swagger-ui-bundle.js" in url)
    async with system.http.get(system.base_url + bundle) as response:
        assert response.headers["Content-Encoding"] == "gzip"  # aiohttp asks for it
        assert "isOAS31" in await response.text()
    # Raw bytes are gzip of the same file; a client that does not accept gzip gets it plain.
    async with system.http.get(
        system.base_url + bundle, headers={"Accept-Encoding": "identity"}, auto_decompress=False
    ) as response:
        assert "Content-Encoding" not in response.headers
        plain = await response.read()
    async with system.http.get(system.base_url + bundle, auto_decompress=False) as response:
        assert gzip.decompress(await response.read()) == plain
        assert len(plain) > 1_000_000
    # Without the current version the file is still served, but revalidated each time.
    async with system.http.get(system.base_url + "/docs/swagger-ui.css?v=old") as response:
        assert response.status == 200 and response.headers["Cache-Control"] == "no-cache"
    # Revalidation is cheap; unknown names, escaping names and the package's other files
    # (a demo page that loads the Petstore from the internet, source maps) are a JSON 404.
    async with system.http.get(
        system.base_url + "/docs", headers={"If-None-Match": etag}
    ) as response:
        assert response.status == 304
    for name in (
        "nope.js",
        "..%2Fcontracts.py",
        "index.html.bak",
        "index.html",
        "index.j2",
        "swagger-ui-bundle.js.map",
        "oauth2-redirect.html",
    ):
        async with system.http.get(f"{system.base_url}/docs/{name}") as response:
            assert response.status == 404, name
            assert (await response.json())["error"]["code"] == "not_found"


async def _execute(page: Page, op_id: str) -> Any:
    """Expand an operation, "Try it out", "Execute"; the block with the live answer."""
    block = page.locator(f"[id^='operations-'][id$='-{op_id}']")
    await block.locator(".opblock-summary-control").click()
    await block.locator("button.try-out__btn").click()
    await block.locator("button.execute").click()
    return block


async def test_docs_render_every_operation_and_try_it_in_an_offline_browser(
    system: System,
) -> None:
    doc = build_document(system.app)
    documented = [op["operationId"] for _, _, op in operations(doc)]
    elsewhere: list[str] = []
    refused_by_policy: list[str] = []

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.on(
                "console",
                lambda msg: (
                    refused_by_policy.append(msg.text)
                    if "Content Security Policy" in msg.text
                    else None
                ),
            )

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

            # One block per documented operation (each has one tag), and the schemas.
            await expect(page.locator(".opblock")).to_have_count(len(documented))
            for op_id in ("create_job", "list_jobs", "get_job", "docs_asset"):
                await expect(page.locator(f"[id$='-{op_id}']")).to_have_count(1)
            schemas = page.locator(".models .json-schema-2020-12__title")
            await expect(schemas.filter(has_text=re.compile(r"^Job$"))).to_have_count(1)
            await expect(page.locator(".info .title")).to_contain_text("Reelsmith")

            # Tried without a token, listing jobs is refused with the API's JSON error.
            jobs = await _execute(page, "list_jobs")
            live = jobs.locator(".live-responses-table tbody .response-col_status")
            await expect(live).to_have_text("401")

            # Authorize with the bearer scheme the document declares; then it succeeds.
            await page.locator(".auth-wrapper button.authorize").click()
            dialog = page.locator(".dialog-ux .modal-ux")
            bearer = dialog.locator(".auth-container").filter(has_text="bearerAuth")
            await bearer.locator("input").fill(system.token())
            await bearer.locator("button.authorize").click()
            await expect(bearer.locator("button", has_text="Logout")).to_be_visible()
            await bearer.locator("button.btn-done").click()
            await jobs.locator("button.execute").click()
            await expect(live).to_have_text("200")
            await expect(jobs.locator(".live-responses-table .highlight-code")).to_contain_text(
                '"items"'
            )

            # A request body starts from the documented example.
            create = page.locator("[id$='-create_job']")
            await create.locator(".opblock-summary-control").click()
            await create.locator("button.try-out__btn").click()
            await expect(create.locator("textarea.body-param__text")).to_have_value(
                re.compile(r'"campaign_id": "spring-launch"')
            )
        finally:
            await browser.close()
    assert elsewhere == []
    assert refused_by_policy == []
