"""Every protected route refuses every bad token (401), and a client never reaches another
client's jobs, videos, frames, exports or assets (404, as if they did not exist).

The routes come from the gateway's own router, so a route added later is covered too.
"""

from __future__ import annotations

import io
import re
from typing import Any

import aiohttp
import jwt
from PIL import Image

from services.gateway.http.access import issue_media_token
from services.gateway.http.auth import Principal
from services.gateway.paths import DEV_LOGIN
from tests.support.system import SECRET, System
from tests.support.tokens import bad_authorizations, claims
from tests.support.waiting import eventually

PARAM = re.compile(r"\{([a-z_]+)(?::[^}]*)?\}")
MEDIA_GETS = (
    "video",
    "poster.jpg",
    "captions.vtt",
    "captions.srt",
    "contact-sheet.jpg",
    "storyboard/1.jpg",
)


def protected_routes(system: System) -> list[tuple[str, str]]:
    """(method, path template) of every route under /api/ that is not public by design."""
    found = set()
    for route in system.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path") or ""
        if route.method == "HEAD" or not template.startswith("/api/"):
            continue
        if template == DEV_LOGIN:  # public by design (and off unless DEV_LOGIN is set)
            continue
        found.add((route.method, template))
    return sorted(found)


def concrete(template: str, values: dict[str, str]) -> str:
    return PARAM.sub(lambda m: values[m.group(1)], template)


async def test_every_protected_route_refuses_every_bad_token(system: System) -> None:
    # A real job id (so a 401 is about the token, not a missing job).
    job = await system.create_job()
    values = {"job_id": job["id"], "asset_id": "0" * 32, "n": "1", "name": "x_v1_abc.mp4"}
    routes = protected_routes(system)
    assert len(routes) >= 20, routes

    # Each bad Authorization header, on each route: 401 with the JSON error shape.
    wrong = []
    for case, header in bad_authorizations().items():
        headers = {} if header is None else {"Authorization": header}
        for method, template in routes:
            url = system.base_url + concrete(template, values)
            async with system.http.request(method, url, headers=headers) as response:
                body = await response.json() if response.content_type == "application/json" else {}
                ok = response.status == 401 and body.get("error", {}).get("code") == "unauthorized"
                if not ok:
                    wrong.append((case, method, template, response.status))
    assert wrong == []


async def test_media_tokens_and_bearer_tokens_do_not_stand_in_for_each_other(
    system: System,
) -> None:
    job = await system.create_job()
    principal = Principal("client-a", "client", claims()["exp"])
    media, _ = issue_media_token(SECRET, principal)
    bearer = system.token()
    video = f"{system.base_url}/api/v2/jobs/{job['id']}/video"

    # A media token is not a bearer token, on any route.
    for path in ("/api/v2/jobs", f"/api/v2/jobs/{job['id']}", f"/api/v2/jobs/{job['id']}/video"):
        headers = {"Authorization": f"Bearer {media}"}
        async with system.http.get(system.base_url + path, headers=headers) as r:
            assert r.status == 401, path

    # A bearer token (or a forged or expired media token) in the query opens no media.
    expired = jwt.encode(claims(exp=1), SECRET, "HS256")
    for token in (bearer, expired, "not.a.jwt"):
        async with system.http.get(video, params={"access_token": token}) as r:
            assert r.status == 401

    # A media token in the query works only on media GETs, never on the JSON API.
    async with system.http.get(
        f"{system.base_url}/api/v2/jobs/{job['id']}", params={"access_token": media}
    ) as r:
        assert r.status == 401


async def test_another_clients_things_do_not_exist(system: System) -> None:
    # Client A has an uploaded image, a rendered job with a poster, frames and an export.
    await eventually(lambda: _assets_ready(system), timeout_s=20)
    status, asset = await _upload_png(system, "client-a")
    assert status == 201, asset
    job = await system.approved_job(duration_s=5, assets=[asset["asset_id"]])
    status, _, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    assert status == 202
    await system.wait_status(job["id"], "completed", timeout_s=90)
    status, _, _ = await system.call(
        "POST", f"/api/v2/jobs/{job['id']}/exports", json={"aspect": "1:1"}
    )
    assert status == 202
    done = await eventually(
        lambda: system.job(job["id"]),
        lambda j: any(o["kind"] == "export" for o in j["outputs"]),
        timeout_s=60,
    )
    export = next(o for o in done["outputs"] if o["kind"] == "export")
    values = {
        "job_id": job["id"],
        "asset_id": asset["asset_id"],
        "n": "1",
        "name": export["key"].rsplit("/", 1)[-1],
    }
    # Client A itself reaches each of them.
    for path in (
        f"/api/v2/jobs/{job['id']}/video",
        f"/api/v2/jobs/{job['id']}/poster.jpg",
        f"/api/v2/jobs/{job['id']}/storyboard/1.jpg",
        export["url"],
        f"/api/v2/assets/{asset['asset_id']}/content",
    ):
        status, _, _ = await system.call("GET", path, "client-a")
        assert status == 200, path

    # Client B gets 404 on every route that names A's job or asset, whatever the method.
    leaked = []
    for method, template in protected_routes(system):
        if "{job_id}" not in template and "{asset_id}" not in template:
            continue
        status, body, _ = await system.call(
            method, concrete(template, values), "client-b", json=_body_for(template)
        )
        if status != 404 or body["error"]["code"] != "not_found":
            leaked.append((method, template, status))
    assert leaked == []

    # With B's media token in the query, A's media stay hidden too.
    b_media, _ = issue_media_token(SECRET, Principal("client-b", "client", claims()["exp"]))
    for name in MEDIA_GETS:
        url = f"{system.base_url}/api/v2/jobs/{job['id']}/{name}"
        async with system.http.get(url, params={"access_token": b_media}) as r:
            assert r.status == 404, name

    # Lists do not show A's things to B, and B cannot build a job on A's asset.
    _, jobs, _ = await system.call("GET", "/api/v2/jobs", "client-b")
    assert all(item["id"] != job["id"] for item in jobs["items"])
    _, assets, _ = await system.call("GET", "/api/v2/assets", "client-b")
    assert asset["asset_id"] not in str(assets)
    status, body, _ = await system.call(
        "POST",
        "/api/v2/jobs",
        "client-b",
        json={
            "campaign_id": "theft",
            "prompt": "Anything",
            "platform": "tiktok",
            "duration_s": 5,
            "assets": [asset["asset_id"]],
        },
    )
    assert status == 422, body

    # A's things are untouched by B's attempts (no cancel, no delete went through).
    assert (await system.job(job["id"]))["status"] == "completed"
    status, _, _ = await system.call("GET", f"/api/v2/assets/{asset['asset_id']}", "client-a")
    assert status == 200


def _body_for(template: str) -> dict[str, Any] | None:
    """A body valid for the route, so a 404 cannot be a validation error in disguise."""
    if template.endswith("/storyboard"):
        return {"scenes": [{"index": 1, "caption": "Stolen"}]}
    if template.endswith("/refine"):
        return {"feedback": "make it mine"}
    if template.endswith("/exports"):
        return {"aspect": "16:9"}
    return None


async def _assets_ready(system: System) -> bool:
    status, _, _ = await system.call("GET", "/api/v2/assets")
    return status == 200


async def _upload_png(system: System, client_id: str) -> tuple[int, Any]:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 90)).save(buffer, "PNG")
    form = aiohttp.FormData()
    form.add_field("kind", "image")
    form.add_field("file", buffer.getvalue(), filename="product.png", content_type="image/png")
    status, body, _ = await system.call("POST", "/api/v2/upload-asset", client_id, data=form)
    return status, body
