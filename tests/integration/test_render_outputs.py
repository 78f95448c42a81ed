"""A render's side files through the gateway: captions (WebVTT, SRT) and the contact sheet,
per variation, for their owner only.

The renderer writes them (`services/renderer/rendering.py` with the engine's `subtitles`
and `contact_sheet`); these tests read them the way a client does.
"""

from __future__ import annotations

import io
import re
from typing import Any, cast

from PIL import Image

from services.gateway.http.access import issue_media_token
from services.gateway.http.auth import Principal
from services.renderer.engine.contact_sheet import BACKGROUND, LABEL_H, sheet_layout
from services.renderer.keys import captions_key, contact_sheet_key
from tests.support.system import SECRET, System
from tests.support.tokens import claims

FILES = ("captions.vtt", "captions.srt", "contact-sheet.jpg")
_TIMING = re.compile(r"^(\S+) --> (\S+)(?: .*)?$")
_INLINE = re.compile(r"<(\d\d:\d\d:\d\d\.\d{3})>")


def _seconds(stamp: str, decimal: str = ".") -> float:
    hours, minutes, rest = stamp.split(":")
    assert re.fullmatch(rf"\d\d{re.escape(decimal)}\d{{3}}", rest), stamp
    return int(hours) * 3600 + int(minutes) * 60 + float(rest.replace(",", "."))


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    """(start, end, payload) of each cue; asserts the WebVTT shape on the way."""
    assert text.startswith("WEBVTT"), text[:40]
    cues = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n")[1:]:
        lines = block.split("\n")
        if "-->" not in lines[0]:
            lines = lines[1:]  # a cue identifier
        match = _TIMING.match(lines[0])
        assert match, block
        cues.append((_seconds(match[1]), _seconds(match[2]), "\n".join(lines[1:])))
    return cues


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    cues = []
    for number, block in enumerate(text.replace("\r\n", "\n").strip().split("\n\n"), 1):
        lines = block.split("\n")
        assert lines[0] == str(number), block
        start, end = lines[1].split(" --> ")
        cues.append((_seconds(start, ","), _seconds(end, ","), "\n".join(lines[2:])))
    return cues


def check_timings(cues: list[tuple[float, float, str]], duration_s: float) -> None:
    assert cues
    for (start, end, text), following in zip(cues, [*cues[1:], None], strict=True):
        assert 0 <= start < end <= duration_s + 0.5, (start, end, text)
        assert text.strip()
        if following is not None:
            assert end <= following[0] + 1e-3  # never overlapping, in order


async def _rendered(system: System, **fields: Any) -> dict[str, Any]:
    job = await system.approved_job(**fields)
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    assert status == 202, body
    return await system.wait_status(job["id"], "completed", timeout_s=150)


async def test_captions_and_contact_sheet_of_each_variation(system: System) -> None:
    job = await _rendered(system, duration_s=10, variations=2)
    job_id = job["id"]
    scenes = len(job["storyboard"]["scenes"])
    outputs = {o["variation"]: o for o in job["outputs"] if o["kind"] == "render"}
    assert sorted(outputs) == [1, 2]

    for variation, output in outputs.items():
        assert output["captions_key"] == captions_key(job_id, variation)
        assert output["contact_sheet_key"] == contact_sheet_key(job_id, variation)
        query = f"?variation={variation}"

        # WebVTT: timed cues in order, words highlighted one by one.
        status, body, response = await system.call(
            "GET", f"/api/v2/jobs/{job_id}/captions.vtt{query}"
        )
        assert status == 200, body
        assert response.content_type == "text/vtt" and response.charset == "utf-8"
        vtt = parse_vtt(body.decode("utf-8"))
        check_timings(vtt, output["duration_s"])
        inline_seen = 0
        for start, end, payload in vtt:
            inline = [_seconds(t) for t in _INLINE.findall(payload)]
            assert all(start < t < end for t in inline), (start, end, payload)
            assert inline == sorted(set(inline)), payload
            inline_seen += len(inline)
        assert inline_seen > 0

        # SRT: the same cues, numbered, comma timings, plain text.
        status, body, response = await system.call(
            "GET", f"/api/v2/jobs/{job_id}/captions.srt{query}"
        )
        assert status == 200, body
        assert response.content_type == "application/x-subrip" and response.charset == "utf-8"
        srt = parse_srt(body.decode("utf-8"))
        check_timings(srt, output["duration_s"])
        assert len(srt) == len(vtt)
        assert [c[2] for c in srt] == [_INLINE.sub("", c[2]) for c in vtt]

        # The contact sheet: a JPEG with one labelled tile per scene.
        status, body, response = await system.call(
            "GET", f"/api/v2/jobs/{job_id}/contact-sheet.jpg{query}"
        )
        assert status == 200, body
        assert response.content_type == "image/jpeg"
        sheet = Image.open(io.BytesIO(body))
        assert sheet.format == "JPEG"
        layout = sheet_layout(scenes, (output["width"], output["height"]))
        assert sheet.size == layout.size
        for tile in range(layout.columns * layout.rows):
            x, y = layout.tile_origin(tile)
            label = sheet.crop(
                (x, y + layout.thumb[1] + 2, x + layout.thumb[0], y + layout.thumb[1] + LABEL_H)
            )
            lightest = cast(tuple[int, int], label.convert("L").getextrema())[1]
            if tile < scenes:
                assert lightest > 150, f"tile {tile + 1} has no label"
            else:
                assert lightest < max(BACKGROUND) + 40, f"cell {tile + 1} should be empty"

    # The two variations are files of their own.
    _, first, _ = await system.call("GET", f"/api/v2/jobs/{job_id}/captions.vtt?variation=1")
    _, second, _ = await system.call("GET", f"/api/v2/jobs/{job_id}/captions.vtt?variation=2")
    assert first and second

    # A variation that was not rendered is 404; a malformed one is 400.
    for name in FILES:
        status, body, _ = await system.call("GET", f"/api/v2/jobs/{job_id}/{name}?variation=3")
        assert status == 404 and body["error"]["code"] == "not_found", name
        status, body, _ = await system.call("GET", f"/api/v2/jobs/{job_id}/{name}?variation=x")
        assert status == 400, name

    # Another client does not see them, with its bearer token or its media token.
    b_media, _ = issue_media_token(SECRET, Principal("client-b", "client", claims()["exp"]))
    a_media, _ = issue_media_token(SECRET, Principal("client-a", "client", claims()["exp"]))
    for name in FILES:
        status, body, _ = await system.call("GET", f"/api/v2/jobs/{job_id}/{name}", "client-b")
        assert status == 404 and body["error"]["code"] == "not_found", name
        url = f"{system.base_url}/api/v2/jobs/{job_id}/{name}"
        async with system.http.get(url, params={"access_token": b_media}) as r:
            assert r.status == 404, name
        # The owner's media token opens them (what `<track>` and `<img>` use).
        async with system.http.get(url, params={"access_token": a_media, "variation": 2}) as r:
            assert r.status == 200, name


async def test_nothing_before_the_render(system: System) -> None:
    job = await system.approved_job(duration_s=5)
    for name in FILES:
        status, body, _ = await system.call("GET", f"/api/v2/jobs/{job['id']}/{name}")
        assert status == 404 and body["error"]["code"] == "not_found", name
        status, body, _ = await system.call("GET", f"/api/v2/jobs/{job['id']}/{name}", "client-b")
        assert status == 404, name
