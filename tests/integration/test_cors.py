"""CORS on /api/v2: off by default; preflights from allowed origins are answered without a
token and without costing rate-limit tokens; other origins get a 403 preflight and no
CORS headers; every header a real answer carries is readable by the page (exposed or
safelisted), the SSE stream included; `*` and malformed origins stop the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from multidict import CIMultiDictProxy

from services.gateway.app import init_app
from tests.integration.test_storyboard_failures import png, uploaded
from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system, settings_for

ORIGIN = "http://127.0.0.1:5173"
OTHER = "http://127.0.0.1:6666"
BRIEF = {
    "campaign_id": "spring",
    "prompt": "Introducing Glow Serum. Brightens skin in 7 days.",
    "platform": "tiktok",
    "duration_s": 10,
}
# Headers a page may read without their being exposed, and those about the connection or
# CORS itself: everything else an answer carries must be in Access-Control-Expose-Headers.
READABLE = {
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
    "date",
    "server",
    "vary",
    "transfer-encoding",
    "connection",
    "keep-alive",
    # Directives to the browser itself, not data for the page.
    "x-content-type-options",
}


@pytest_asyncio.fixture
async def cors_system(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[System]:
    """The system allowing one other origin; a bucket of two jobs per client."""
    async with running_system(
        nats_server.url,
        tmp_path,
        renderer_workers=0,
        cors_allowed_origins=f"{ORIGIN}, http://localhost:5173",
        cors_max_age_s=900,
        job_rate_burst=2,
        job_rate_per_minute=1,
    ) as system:
        yield system


def preflight(method: str, headers: str = "", origin: str = ORIGIN) -> dict[str, str]:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return asked


def header_list(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


def assert_readable(headers: CIMultiDictProxy[str], what: str) -> None:
    """CORS headers for ORIGIN, and every header of the answer readable by its page."""
    assert headers.get("Access-Control-Allow-Origin") == ORIGIN, what
    assert headers.get("Access-Control-Allow-Credentials") == "true", what
    assert "origin" in header_list(headers.get("Vary")), what
    exposed = header_list(headers.get("Access-Control-Expose-Headers"))
    hidden = {
        name.lower()
        for name in headers
        if name.lower() not in READABLE
        and not name.lower().startswith("access-control-")
        and name.lower() not in exposed
    }
    assert not hidden, f"{what}: the page cannot read {sorted(hidden)}"


async def test_cors_is_off_by_default(system: System) -> None:
    # A cross-origin answer carries no CORS header: the browser keeps it from the page.
    status, _, response = await system.call("GET", "/api/v2/jobs", headers={"Origin": ORIGIN})
    assert status == 200
    assert not [name for name in response.headers if name.lower().startswith("access-control")]
    # A preflight is a 403 saying why, in the JSON error shape.
    async with system.http.options(
        system.base_url + "/api/v2/jobs", headers=preflight("POST", "authorization")
    ) as r:
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "cors_disabled"
        assert "Access-Control-Allow-Origin" not in r.headers


async def test_preflight_from_an_allowed_origin(cors_system: System) -> None:
    system = cors_system
    url = system.base_url + "/api/v2/jobs"
    # No token, and the answer says which methods and headers may follow, for how long.
    asked = "authorization, content-type, idempotency-key"
    async with system.http.options(url, headers=preflight("POST", asked)) as r:
        assert r.status == 204, await r.text()
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert r.headers["Access-Control-Allow-Credentials"] == "true"
        assert r.headers["Access-Control-Max-Age"] == "900"
        assert "origin" in header_list(r.headers["Vary"])
        methods = header_list(r.headers["Access-Control-Allow-Methods"])
        assert {"get", "head", "post", "patch", "delete"} <= methods
        allowed = header_list(r.headers["Access-Control-Allow-Headers"])
        wanted = {"authorization", "content-type", "idempotency-key", "if-none-match", "range"}
        assert wanted <= allowed
    # The second allowed origin is answered with its own name.
    other = preflight("GET", "authorization", origin="http://localhost:5173")
    async with system.http.options(system.base_url + "/api/v2/jobs/x/events", headers=other) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"


async def test_preflights_are_not_rate_limited_work(cors_system: System) -> None:
    # Ten preflights for job creation, then the two jobs the bucket holds still go through.
    system = cors_system
    for _ in range(10):
        async with system.http.options(
            system.base_url + "/api/v2/jobs", headers=preflight("POST", "authorization")
        ) as r:
            assert r.status == 204
    for _ in range(2):
        await system.create_job(**BRIEF)
    # The third is refused by the bucket, and the page can read when to come back.
    status, body, response = await system.call(
        "POST", "/api/v2/jobs", json=BRIEF, headers={"Origin": ORIGIN}
    )
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0
    assert_readable(response.headers, "429")


async def test_other_origins_methods_and_headers_are_refused(cors_system: System) -> None:
    system = cors_system
    url = system.base_url + "/api/v2/jobs"
    refusals = {
        "cors_origin_not_allowed": preflight("GET", "authorization", origin=OTHER),
        "cors_method_not_allowed": preflight("PURGE", "authorization"),
        "cors_header_not_allowed": preflight("POST", "authorization, x-debug"),
    }
    for code, headers in refusals.items():
        async with system.http.options(url, headers=headers) as r:
            # 403, the JSON error naming the problem; nothing a browser would accept.
            assert r.status == 403, code
            body = await r.json()
            assert body["error"]["code"] == code and body["error"]["message"]
            if code != "cors_origin_not_allowed":
                continue
            assert "Access-Control-Allow-Origin" not in r.headers
            assert "Access-Control-Allow-Methods" not in r.headers
    async with system.http.options(url, headers=refusals["cors_header_not_allowed"]) as r:
        assert "x-debug" in (await r.json())["error"]["message"]
    # An actual request from another origin is answered (the token decides) but carries
    # no CORS header, so its page cannot read it; caches are told the answer varies.
    status, _, response = await system.call("GET", "/api/v2/jobs", headers={"Origin": OTHER})
    assert status == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "origin" in header_list(response.headers.get("Vary"))


async def test_every_header_of_real_answers_is_readable(cors_system: System) -> None:
    system = cors_system
    origin = {"Origin": ORIGIN}
    # Created (Location) with an Idempotency-Key, then replayed (Idempotent-Replayed).
    keyed = {**origin, "Idempotency-Key": "cors-1"}
    status, job, response = await system.call("POST", "/api/v2/jobs", json=BRIEF, headers=keyed)
    assert status == 202 and response.headers["Location"].endswith(job["id"])
    assert_readable(response.headers, "202")
    status, _, response = await system.call("POST", "/api/v2/jobs", json=BRIEF, headers=keyed)
    assert status == 202 and response.headers["Idempotent-Replayed"] == "true"
    assert_readable(response.headers, "replay")
    # The job (ETag), and the 304 for the copy the page holds.
    path = f"/api/v2/jobs/{job['id']}"
    status, _, response = await system.call("GET", path, headers=origin)
    assert status == 200 and response.headers["ETag"]
    assert_readable(response.headers, "200")
    etag = {**origin, "If-None-Match": response.headers["ETag"]}
    status, _, response = await system.call("GET", path, headers=etag)
    assert status == 304
    assert_readable(response.headers, "304")
    # Errors are readable too: a page must see why it was refused.
    async with system.http.get(system.base_url + path, headers=origin) as r:
        assert r.status == 401 and (await r.json())["error"]["code"] == "unauthorized"
        assert_readable(r.headers, "401")
    status, _, response = await system.call("GET", "/api/v2/jobs/nope", headers=origin)
    assert status == 404
    assert_readable(response.headers, "404")
    status, _, response = await system.call("DELETE", "/api/v2/jobs", headers=origin)
    assert status == 405 and "GET" in response.headers["Allow"]
    assert_readable(response.headers, "405")
    # The SSE stream is prepared inside its view: it carries the headers all the same.
    async with system.http.get(
        system.base_url + path + "/events", headers={**origin, **system.auth()}
    ) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        assert_readable(r.headers, "events")
        assert (await r.content.readuntil(b"\n\n")).startswith(b"event: job\n")
    # Files: a frame; an upload (ETag, Accept-Ranges, Content-Disposition, Content-Range).
    ready = await system.wait_status(job["id"], "storyboard_ready")
    frame = ready["storyboard"]["scenes"][0]["image_url"]
    status, _, response = await system.call("GET", frame, headers=origin)
    assert status == 200 and response.content_type == "image/jpeg"
    assert_readable(response.headers, "frame")
    asset = await uploaded(system, png((200, 40, 90)))
    content = f"/api/v2/assets/{asset['asset_id']}/content"
    status, _, response = await system.call("GET", content, headers=origin)
    assert status == 200 and response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert_readable(response.headers, "asset file")
    ranged = {**origin, "Range": "bytes=0-9"}
    status, _, response = await system.call("GET", content, headers=ranged)
    assert status == 206 and response.headers["Content-Range"].startswith("bytes 0-9/")
    assert_readable(response.headers, "asset file range")


async def test_only_api_paths_are_cors_enabled(cors_system: System) -> None:
    # An unknown /api/v2 path is preflighted like any other (the request itself is a 401
    # or 404 the page can read); paths outside /api/v2 are not CORS-enabled.
    system = cors_system
    async with system.http.options(
        system.base_url + "/api/v2/nothing-here", headers=preflight("GET", "authorization")
    ) as r:
        assert r.status == 204
    async with system.http.get(system.base_url + "/", headers={"Origin": ORIGIN}) as r:
        assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers


@pytest.mark.parametrize(
    "value",
    ["*", "http://127.0.0.1:5173/", "HTTPS://APP.EXAMPLE.COM", "https://a.example:443", "ftp://x"],
)
def test_a_bad_origin_list_stops_the_gateway(tmp_path: Path, value: str) -> None:
    # `*` and anything that is not an origin as a browser writes it: refused at start-up.
    settings = settings_for("nats://127.0.0.1:1", tmp_path, cors_allowed_origins=value)
    with pytest.raises(ValueError, match="CORS_ALLOWED_ORIGINS"):
        init_app(settings)
