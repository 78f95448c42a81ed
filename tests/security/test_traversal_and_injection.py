"""Path traversal and injection: no id, name or scene number a client sends is ever a path
or SQL; storage keys come from server-made ids only, so nothing is read or written outside
the storage root, and another client's rows never leak through a crafted filter."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from PIL import Image

from tests.support.system import SECRET, System
from tests.support.tokens import claims
from tests.support.waiting import eventually

NASTY_IDS = (
    "..",
    "...",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e",
    "%252e%252e%252fetc",
    "..%5C..%5Cwindows",
    "%00",
    "x" * 300,
    "%27%20OR%20%271%27=%271",  # ' OR '1'='1
    "1;DROP%20TABLE%20generated_videos",
    "0123456789abcdef0123456789abcdef%2F..",
)


def _routes_with(system: System, param: str) -> list[tuple[str, str]]:
    found = set()
    for route in system.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or ""
        if route.method != "HEAD" and "{" + param + "}" in template:
            found.add((route.method, template))
    return sorted(found)


def _fill(template: str, **values: str) -> str:
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template.replace("{n}", "1").replace("{name}", "x.mp4")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _outside(tmp_path: Path) -> set[Path]:
    """Files beside this test's folder (the shared nats-server's store excepted)."""
    base = tmp_path.parent
    return {
        p
        for p in _files(base) - _files(tmp_path)
        if not p.relative_to(base).parts[0].startswith("nats")
    }


async def _raw(system: System, method: str, path: str, **kwargs: Any) -> tuple[int, bytes]:
    # The path goes out exactly as written, already percent-encoded (no client-side
    # normalisation of %2F or ..).
    url = aiohttp.client.URL(system.base_url + path, encoded=True)
    headers = {**system.auth(), **kwargs.pop("headers", {})}
    async with system.http.request(method, url, headers=headers, **kwargs) as response:
        return response.status, await response.read()


async def test_crafted_ids_and_names_never_reach_the_filesystem(
    system: System, tmp_path: Path
) -> None:
    outside_before = _outside(tmp_path)
    job = await system.approved_job(duration_s=5)
    await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    await system.wait_status(job["id"], "completed", timeout_s=90)

    # Every route naming a job or an asset answers a crafted id with a 4xx, never a file.
    answers = []
    for param in ("job_id", "asset_id"):
        for method, template in _routes_with(system, param):
            for nasty in NASTY_IDS:
                status, body = await _raw(system, method, _fill(template, **{param: nasty}))
                answers.append((status, method, template, nasty))
                assert b"root:" not in body and b"ftyp" not in body[:16]
    assert [a for a in answers if not 400 <= a[0] < 500] == []

    # Scene numbers and export names are only ever looked up, never joined into a path.
    base = f"/api/v2/jobs/{job['id']}"
    for path in (
        f"{base}/storyboard/-1.jpg",
        f"{base}/storyboard/1.0.jpg",
        f"{base}/storyboard/99999999999999999999999999.jpg",
        f"{base}/storyboard/..%2F..%2Fstoryboard.json",
        f"{base}/exports/..%2Ffinal.mp4",
        f"{base}/exports/....mp4",
        f"{base}/exports/final.mp4",  # a real file of the job, but not an export
        f"{base}/exports/..%2F..%2F..%2Fapp.db.mp4",
        f"{base}/video?variation=../../final",
        f"{base}/video?variation=99999999999999999999",
    ):
        status, body = await _raw(system, "GET", path)
        assert 400 <= status < 500, (path, status)
        assert b"ftyp" not in body[:16] and b"SQLite" not in body[:16], path

    # Asset ids in a brief or a storyboard edit name nothing outside the client's uploads.
    for field in (
        {"assets": ["../../etc/passwd"]},
        {"assets": ["..%2F..%2Fapp.db"]},
        {"brand": {"logo_asset_id": "../../../app"}},
        {"brand": {"font_asset_id": "/etc/passwd"}},
    ):
        status, body, _ = await system.call("POST", "/api/v2/jobs", json=_brief(**field))
        assert status == 422, (field, body)
    ready = await system.create_job(duration_s=5)
    await system.wait_status(ready["id"], "storyboard_ready")
    status, body, _ = await system.call(
        "PATCH",
        f"/api/v2/jobs/{ready['id']}/storyboard",
        json={"scenes": [{"index": 1, "clip_asset_id": "../../videos/x/final"}]},
    )
    assert status == 422, body
    status, body, _ = await system.call(
        "POST",
        f"/api/v2/jobs/{ready['id']}/scenes/99999999999999999999/refine",
        json={"feedback": "x"},
    )
    assert status == 404, body

    # Nothing was written outside this test's folder.
    assert _outside(tmp_path) == outside_before


async def test_uploaded_file_names_and_client_ids_are_not_paths(
    system: System, tmp_path: Path
) -> None:
    await eventually(lambda: _assets_ready(system), timeout_s=20)
    storage = Path(system.settings.video_storage_path)

    # A file name full of traversal is stored under a server-made key; the name is only
    # shown back, reduced to its last segment.
    # (Sent raw: aiohttp would otherwise percent-encode the name on the client side.)
    for name in ("../../../../escape.png", "..\\..\\escape.png", "/etc/escape.png"):
        status, asset = await _upload(system, "client-a", name)
        assert status == 201, asset
        assert asset["original_name"] == "escape.png"
        stored = sorted(p.name for p in (storage / "uploads" / "client-a").glob("*"))
        assert f"{asset['asset_id']}.png" in stored
    assert _escaped(tmp_path.parent, "escape*") == []

    # A (validly signed) client id that looks like a path cannot own uploads, and its
    # jobs still keep every object under storage keys made from server ids.
    sneaky = "../../sneaky"
    token = jwt.encode(claims(sub=sneaky), SECRET, "HS256")
    headers = {"Authorization": f"Bearer {token}"}
    form = _png_form("x.png")
    async with system.http.post(
        system.base_url + "/api/v2/upload-asset", data=form, headers=headers
    ) as r:
        assert r.status == 403
    async with system.http.post(
        system.base_url + "/api/v2/jobs", json=_brief(), headers=headers
    ) as r:
        assert r.status == 202
        job = await r.json()
    await eventually(lambda: _status(system, job["id"], headers), lambda s: s == "storyboard_ready")
    assert _escaped(tmp_path.parent, "sneaky") == []
    assert all(p.resolve().is_relative_to(storage) for p in _everything(storage))


async def test_crafted_filters_do_not_leak_other_clients_jobs(system: System) -> None:
    # Client A has jobs; client B tries SQL in every filter and in the cursor.
    mine = await system.create_job(client_id="client-a")
    cursors = [
        base64.urlsafe_b64encode(text.encode()).decode()
        for text in ("x' OR 1=1 --|y", "9999|' OR client_id != '", "|")
    ]
    queries: list[dict[str, str]] = [
        {"campaign_id": "x' OR '1'='1"},
        {"campaign_id": "spring-launch' --"},
        {"status": "queued' OR 1=1 --"},
        {"limit": "1; DROP TABLE generated_videos"},
        *({"cursor": cursor} for cursor in cursors),
        {"cursor": "not base64 ' OR 1=1"},
    ]
    for query in queries:
        status, body, _ = await system.call("GET", "/api/v2/jobs", "client-b", params=query)
        assert status in (200, 400, 422), (query, status)
        if status == 200:
            assert all(item["id"] != mine["id"] for item in body["items"]), query

    # The table is intact and A still sees its job.
    status, body, _ = await system.call("GET", "/api/v2/jobs", "client-a")
    assert status == 200 and any(item["id"] == mine["id"] for item in body["items"])


def _escaped(root: Path, pattern: str) -> list[Path]:
    return list(root.rglob(pattern))


def _everything(root: Path) -> list[Path]:
    return list(root.rglob("*"))


def _brief(**fields: Any) -> dict[str, Any]:
    brief: dict[str, Any] = {
        "campaign_id": "spring-launch",
        "prompt": "Introducing Glow Serum. Brightens skin in 7 days.",
        "platform": "tiktok",
        "duration_s": 5,
        "brand": {"colors": ["#ff3366"]},
    }
    brief.update(fields)
    return brief


async def _status(system: System, job_id: str, headers: dict[str, str]) -> str:
    async with system.http.get(f"{system.base_url}/api/v2/jobs/{job_id}", headers=headers) as r:
        return str((await r.json())["status"])


async def _assets_ready(system: System) -> bool:
    status, _, _ = await system.call("GET", "/api/v2/assets")
    return status == 200


def _png_form(filename: str) -> aiohttp.FormData:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (20, 120, 200)).save(buffer, "PNG")
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("kind", "image")
    form.add_field("file", buffer.getvalue(), filename=filename, content_type="image/png")
    return form


async def _upload(system: System, client_id: str, filename: str) -> tuple[int, Any]:
    status, body, _ = await system.call(
        "POST", "/api/v2/upload-asset", client_id, data=_png_form(filename)
    )
    return status, body
