"""The gateway's web-console routes over HTTP: static files with revalidation, the
development login (off unless DEV_LOGIN), and media tokens scoped to media GETs."""

from __future__ import annotations

import re
import time
from pathlib import Path

import jwt

from services.gateway.console.views import CONSOLE_DIR
from services.gateway.http.access import media_secret
from tests.support.nats_server import NatsServer
from tests.support.system import SECRET, System, running_system

IMPORT = re.compile(r"""^\s*import\s[^;]*?from\s+["']\./([\w\-]+\.js)["']""", re.MULTILINE)
MODULE_SCRIPT = re.compile(r"""<script type="module" src="/console/([\w\-]+\.js)">""")
STYLESHEET = re.compile(r"""<link rel="stylesheet" href="/console/([\w\-]+\.css)">""")


async def test_console_files_are_served_with_revalidation(system: System) -> None:
    # The page needs no token; it names only its own files (no CDN, no external fonts).
    async with system.http.get(system.base_url + "/") as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/html; charset=utf-8"
        assert r.headers["Cache-Control"] == "no-cache"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        etag = r.headers["ETag"]
        html = await r.text()
    assert "http://" not in html and "https://" not in html

    # Revalidating an unchanged file costs a 304 without a body.
    async with system.http.get(system.base_url + "/", headers={"If-None-Match": etag}) as r:
        assert r.status == 304 and r.headers["ETag"] == etag

    # Every module the page loads, and every module those import, is served as
    # JavaScript: the console runs as plain modules, with no build step.
    pending = MODULE_SCRIPT.findall(html)
    assert pending == ["main.js"]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        async with system.http.get(f"{system.base_url}/console/{name}") as r:
            assert r.status == 200, name
            assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
            source = await r.text()
        assert "https://" not in source and "http://" not in source, name
        pending += IMPORT.findall(source)
    shipped = {path.name for path in CONSOLE_DIR.glob("*.js")}
    assert seen == shipped, f"unused or missing modules: {seen ^ shipped}"
    for css in STYLESHEET.findall(html):
        async with system.http.get(f"{system.base_url}/console/{css}") as r:
            assert r.status == 200 and r.headers["Content-Type"] == "text/css; charset=utf-8"

    # Anything else under /console is a JSON 404, path tricks included.
    for name in ("missing.js", "..%2Fapp.py", "%2E%2E%2Fconsole.py", ".hidden.js", "Main.JS"):
        async with system.http.get(f"{system.base_url}/console/{name}") as r:
            assert r.status == 404, name
            assert (await r.json())["error"]["code"] == "not_found"


async def test_dev_login_is_off_by_default(system: System) -> None:
    # Without DEV_LOGIN the route answers 404 and the console hides the form.
    async with system.http.post(
        system.base_url + "/api/v2/dev/token", json={"client_id": "intruder"}
    ) as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "not_found"
    async with system.http.get(system.base_url + "/console/config.json") as r:
        assert (await r.json())["dev_login"] is False


async def test_dev_login_issues_a_client_token(nats_server: NatsServer, tmp_path: Path) -> None:
    async with running_system(
        nats_server.url, tmp_path, storyboard_workers=0, renderer_workers=0, dev_login=True
    ) as system:
        async with system.http.get(system.base_url + "/console/config.json") as r:
            assert (await r.json())["dev_login"] is True

        # No bearer token is needed; the answer is a client token for the id given.
        async with system.http.post(
            system.base_url + "/api/v2/dev/token", json={"client_id": "shop-42"}
        ) as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
            issued = await r.json()
        claims = jwt.decode(issued["token"], SECRET, algorithms=["HS256"])
        assert claims["sub"] == "shop-42" and claims["role"] == "client"
        assert issued["token_type"] == "bearer" and issued["expires_in_s"] == 12 * 3600

        # The token works on the API.
        headers = {"Authorization": f"Bearer {issued['token']}"}
        async with system.http.get(system.base_url + "/api/v2/jobs", headers=headers) as r:
            assert r.status == 200

        # A client id that cannot name a storage folder is refused.
        async with system.http.post(
            system.base_url + "/api/v2/dev/token", json={"client_id": "../etc"}
        ) as r:
            assert r.status == 422
            assert (await r.json())["error"]["details"][0]["field"] == "client_id"


async def test_media_tokens_open_media_urls_only(system: System) -> None:
    job = await system.create_job()
    await system.wait_status(job["id"], "storyboard_ready")
    frame = f"/api/v2/jobs/{job['id']}/storyboard/1.jpg"

    # A media token needs a bearer token to be issued.
    async with system.http.post(system.base_url + "/api/v2/media-token") as r:
        assert r.status == 401
    status, issued, _ = await system.call("POST", "/api/v2/media-token")
    assert status == 200 and issued["token_type"] == "media"
    assert 0 < issued["expires_in_s"] <= 3600
    media = issued["token"]

    # In the query string it opens a storyboard frame, without any header.
    async with system.http.get(f"{system.base_url}{frame}?access_token={media}") as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"

    # It is no bearer token, and opens no other route from the query string.
    async with system.http.get(
        system.base_url + "/api/v2/jobs", headers={"Authorization": f"Bearer {media}"}
    ) as r:
        assert r.status == 401
    async with system.http.get(
        f"{system.base_url}/api/v2/jobs/{job['id']}?access_token={media}"
    ) as r:
        assert r.status == 401
    async with system.http.post(
        f"{system.base_url}/api/v2/jobs/{job['id']}/approve?access_token={media}"
    ) as r:
        assert r.status == 401

    # A bearer token in the query is not accepted (it would outlive its URL in history).
    async with system.http.get(f"{system.base_url}{frame}?access_token={system.token()}") as r:
        assert r.status == 401

    # An expired media token is refused; another client's media token finds nothing.
    expired = jwt.encode(
        {"sub": "client-a", "role": "client", "exp": int(time.time()) - 5},
        media_secret(SECRET),
        "HS256",
    )
    async with system.http.get(f"{system.base_url}{frame}?access_token={expired}") as r:
        assert r.status == 401 and "expired" in (await r.json())["error"]["message"]
    _, other, _ = await system.call("POST", "/api/v2/media-token", client_id="client-b")
    async with system.http.get(f"{system.base_url}{frame}?access_token={other['token']}") as r:
        assert r.status == 404
