"""The web console in a real Chromium: a client signs in, writes a brief, uploads assets,
sees the estimate, follows the storyboard live, edits, refines and reorders scenes,
approves, watches the render, plays and seeks every variation, downloads one, exports
another aspect ratio and compares estimated and actual cost."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from playwright.async_api import Page, Request, expect

from tests.browser.checks import (
    Screenshots,
    assert_accessible,
    assert_focus_visible,
    play_and_seek,
)
from tests.browser.conftest import ARTIFACTS
from tests.support.system import System

CLIENT = "console-e2e"
SVG = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
PROMPT = "Introducing Glow Serum. Brightens skin in 7 days. Vegan and cruelty free."


def product_png(path: Path) -> Path:
    image = Image.new("RGB", (160, 160), "#f4efe6")
    ImageDraw.Draw(image).ellipse((30, 20, 130, 140), fill="#0f766e")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


async def server_job(system: System, job_id: str) -> dict[str, Any]:
    return await system.job(job_id, client_id=CLIENT)


async def scene_captions(page: Page) -> list[str]:
    return await page.locator("#storyboard-gallery input[data-field=caption]").evaluate_all(
        "inputs => inputs.map(i => i.value)"
    )


async def assert_scene_badges(page: Page, count: int) -> None:
    """Each card's frame carries its scene number, drawn by the console over the frame."""
    badges = page.locator("#storyboard-gallery .scene-badge")
    await expect(badges).to_have_count(count)
    await expect(badges).to_have_text([str(n) for n in range(1, count + 1)])
    for n in range(1, count + 1):
        await expect(page.locator(f"#scene-{n}-badge")).to_be_visible()
    # Over the frame: the badge's box lies inside the image's box.
    inside = await page.locator("#scene-1-badge").evaluate(
        """b => { const f = document.getElementById("scene-1-frame").getBoundingClientRect();
                  const r = b.getBoundingClientRect();
                  return r.left >= f.left && r.top >= f.top && r.right <= f.right
                         && r.bottom <= f.bottom; }"""
    )
    assert inside, "the scene badge is not drawn over the frame"


async def assert_plan_shown(page: Page, storyboard: dict[str, Any]) -> None:
    """The claims cut for length and the variation plans show the job's own data (the
    planner decides whether there are any)."""
    left_out = storyboard.get("claims_left_out") or []
    note = page.locator("#claims-left-out")
    if left_out:
        await expect(note).to_have_text("Left out for length: " + "; ".join(left_out))
    else:
        await expect(note).to_be_hidden()
    plans = storyboard.get("variations") or []
    await expect(page.locator("#variation-plans-body tr")).to_have_count(len(plans))
    if not plans:
        await expect(page.locator("#variation-plans")).to_be_hidden()
    for plan in plans:
        row = page.locator(f"#variation-plan-{plan['variation']}")
        await expect(row.locator("th")).to_have_text(f"Variation {plan['variation']}")
        await expect(row.locator(".plan-style")).to_have_text(plan["style"])
        await expect(row.locator(".plan-hook")).to_contain_text(plan["hook"])
        await expect(row.locator(".plan-cta")).to_have_text(plan["call_to_action"])
        await expect(row.locator(".plan-hypothesis")).to_have_text(plan["hypothesis"])


async def assert_render_extras(page: Page, output: dict[str, Any]) -> None:
    """Beside a variation's player: its style and hypothesis, its contact sheet, its
    captions (a default `<track>` and .vtt/.srt links), each when the render has it."""
    k = output["variation"]
    slug = f"#variation-{k}"
    for field, shown in (("style", str(output.get("style") or "").title()), ("hypothesis", None)):
        element = page.locator(f"{slug}-{field}")
        if output.get(field):
            await expect(element).to_have_text(shown or output[field])
        else:
            await expect(element).to_have_count(0)
    sheet = page.locator(f"{slug}-contact-sheet")
    if output.get("contact_sheet_key"):
        await expect(sheet).to_have_attribute(
            "src", re.compile(rf"/contact-sheet\.jpg\?variation={k}&access_token=")
        )
        await expect(sheet).to_have_attribute("alt", re.compile(f"Contact sheet of variation {k}"))
        # The sheet loads lazily, as a reader scrolls to it.
        await sheet.scroll_into_view_if_needed()
        await page.wait_for_function(
            "s => { const i = document.querySelector(s);"
            " return i.complete && i.naturalWidth > 0; }",
            arg=f"{slug}-contact-sheet",
        )
    else:
        await expect(sheet).to_have_count(0)
    track = page.locator(f"{slug}-video track")
    links = [page.locator(f"{slug}-captions-{ext}") for ext in ("vtt", "srt")]
    if output.get("captions_key"):
        await expect(track).to_have_attribute("kind", "captions")
        await expect(track).to_have_attribute("srclang", "en")
        await expect(track).to_have_attribute("default", "")
        await expect(track).to_have_attribute(
            "src", re.compile(rf"/captions\.vtt\?variation={k}&access_token=")
        )
        # The browser loaded and parsed the WebVTT (TextTrack cues exist).
        await page.wait_for_function(
            "s => { const t = document.querySelector(s).textTracks[0];"
            " if (t.mode === 'disabled') t.mode = 'hidden';"
            " return t.cues && t.cues.length > 0; }",
            arg=f"{slug}-video",
        )
        for ext, link in zip(("vtt", "srt"), links, strict=True):
            await expect(link).to_have_attribute(
                "href", re.compile(rf"/captions\.{ext}\?variation={k}&access_token=")
            )
            await expect(link).to_have_attribute("download", re.compile(rf"-v{k}\.{ext}$"))
    else:
        await expect(track).to_have_count(0)
        for link in links:
            await expect(link).to_have_count(0)


async def test_console_takes_a_brief_to_played_videos(
    console_system: System, page: Page, tmp_path: Path
) -> None:
    system = console_system
    shots = Screenshots(page, ARTIFACTS, "flow")
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r))
    video_statuses: list[int] = []
    page.on(
        "response",
        lambda r: video_statuses.append(r.status) if "/video?" in r.url else None,
    )

    # The gateway serves the console itself, no token needed, with revalidation headers.
    response = await page.goto(system.base_url + "/")
    assert response is not None and response.status == 200
    assert response.headers["cache-control"] == "no-cache" and response.headers["etag"]
    assert "default-src 'self'" in response.headers["content-security-policy"]
    await expect(page.locator("body[data-ready=true]")).to_be_attached()

    # The first Tab reaches the skip link, with a visible focus ring.
    await page.keyboard.press("Tab")
    await expect(page.locator(":focus")).to_have_text("Skip to content")
    await assert_focus_visible(page)

    # A pasted token that is not a JWT is refused with the reason.
    await page.get_by_label("Bearer token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in with token").click()
    await expect(page.locator("#sign-in-error")).to_contain_text("not a usable token")
    # A well-formed token the gateway does not accept is refused by the gateway.
    forged = system.token(CLIENT)[:-4] + "AAAA"
    await page.get_by_label("Bearer token").fill(forged)
    await page.get_by_role("button", name="Sign in with token").click()
    await expect(page.locator("#sign-in-error")).to_contain_text("refused the token")
    await shots.take("sign-in")

    # The development login (DEV_LOGIN is on) signs in as the client id given.
    await page.get_by_label("Client id").fill(CLIENT)
    await page.get_by_role("button", name="Development login").click()
    await expect(page.locator("#session-status")).to_contain_text(f"Signed in as {CLIENT}")
    await expect(page.locator("#jobs-list")).to_contain_text("No jobs yet")

    # The brief: platform, duration, variations, quality and two brand colours.
    await page.get_by_label("Campaign id").fill("glow-launch")
    await page.get_by_label("Brief", exact=True).fill(PROMPT)
    await page.get_by_label("Call to action (optional)").fill("Shop now")
    await page.get_by_label("Platform").select_option("tiktok")
    await page.get_by_label("Duration (seconds, 5–60)").fill("10")
    await page.get_by_label("Variations (1–5)").fill("2")
    await page.get_by_label("HD").check()
    await page.get_by_label("Style").select_option("clean")
    await page.get_by_label("Brand colour 1 as hex").fill("#0f766e")
    await page.get_by_role("button", name="Add brand colour").click()
    await page.get_by_label("Brand colour 2 as hex").fill("#f59e0b")
    await expect(page.get_by_label("Brand colour 2", exact=True)).to_have_value("#f59e0b")

    # An asset picked with the file chooser is previewed at once, then accepted.
    async with page.expect_file_chooser() as chooser_info:
        await page.get_by_role("button", name="Choose files").click()
    chooser = await chooser_info.value
    await chooser.set_files(str(product_png(tmp_path / "serum.png")))
    preview = page.get_by_role("img", name="Preview of serum.png")
    await expect(preview).to_be_visible()
    await expect(preview).to_have_js_property("complete", True)
    await expect(preview).to_have_js_property("naturalWidth", 160)
    await expect(page.locator(".asset-card.accepted")).to_contain_text(
        "Accepted: image · 160×160 px"
    )
    await expect(page.get_by_label("Use serum.png in the brief")).to_be_checked()

    # A dropped SVG is refused by the gateway, and the console says why.
    await page.evaluate(
        """(svg) => {
            const data = new DataTransfer();
            data.items.add(new File([svg], "logo.svg", { type: "image/svg+xml" }));
            const zone = document.getElementById("drop-zone");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true,
                                                        cancelable: true }));
            }
        }""",
        SVG,
    )
    refused = page.locator(".asset-card.refused")
    await expect(refused).to_contain_text("Refused: SVG is not accepted")
    await expect(refused.get_by_role("alert")).to_be_visible()

    # The estimate is shown before submitting: free locally, priced on real models.
    await expect(page.locator("#estimate-total")).to_have_text("$0.00")
    await expect(page.locator("#estimate-paid")).to_have_text(re.compile(r"^\$[1-9]\d*\.\d\d$"))
    await expect(page.locator("#estimate")).to_contain_text("2 variations")

    # Every control on the page has an accessible name; every text has AA contrast.
    await assert_accessible(page, min_controls=20)
    await shots.take("brief-assets-estimate")

    # Submit: the job opens and follows the storyboard live over server-sent events.
    await page.get_by_role("button", name="Submit brief").click()
    await expect(page.locator("#job-title")).to_contain_text("glow-launch")
    await expect(page.locator("#job-status")).to_have_text(
        "Storyboard ready for review", timeout=30_000
    )
    await expect(page.locator("#job-transport")).to_have_text("Live updates (server-sent events)")
    assert any(r.url.endswith("/events") for r in requests), "no event stream was opened"
    job_id = (await page.evaluate("location.hash")).removeprefix("#job=")

    # The gateway got the brief the form describes.
    row = await system.db.fetchone(
        "SELECT request_json FROM generated_videos WHERE id = ?", (job_id,)
    )
    brief = json.loads(row["request_json"])
    asset_id = await page.locator(".asset-card.accepted").get_attribute("data-asset-id")
    assert brief["platform"] == "tiktok" and brief["duration_s"] == 10
    assert brief["variations"] == 2 and brief["quality"] == "hd"
    assert brief["brand"]["colors"] == ["#0f766e", "#f59e0b"]
    assert brief["assets"] == [asset_id] and brief["call_to_action"] == "Shop now"
    assert brief["style"] == "clean"

    # The storyboard is a gallery: a loaded frame, script and caption per scene.
    job = await server_job(system, job_id)
    scenes = job["storyboard"]["scenes"]
    assert len(scenes) >= 2
    cards = page.locator(".scene-card")
    await expect(cards).to_have_count(len(scenes))
    for scene in scenes:
        n = scene["index"]
        frame = page.locator(f"#scene-{n}-frame")
        await expect(frame).to_have_js_property("complete", True)
        assert await frame.evaluate("img => img.naturalWidth") > 0
        await expect(page.locator(f"#scene-{n}-script")).to_have_value(scene["script"])
        await expect(page.locator(f"#scene-{n}-caption")).to_have_value(scene["caption"])
    await assert_scene_badges(page, len(scenes))
    await assert_plan_shown(page, job["storyboard"])
    await assert_accessible(page, min_controls=30)
    await shots.take("storyboard")

    # Edit scene 1's caption inline and save it: the gateway has the new text.
    await page.locator("#scene-1-caption").fill("Glow in 7 days")
    await page.get_by_role("button", name="Save text").first.click()
    await expect(page.locator("#scene-1-status")).to_have_text("Saved")
    job = await server_job(system, job_id)
    assert job["storyboard"]["scenes"][0]["caption"] == "Glow in 7 days"

    # Refine scene 2 with feedback: it is redrawn (revision 2) and the new frame shown.
    old_frame = await page.locator("#scene-2-frame").get_attribute("src")
    await page.get_by_label("Feedback for scene 2").fill("Show the bottle closer, warmer light")
    await page.get_by_role("button", name="Refine scene 2").click()
    await expect(page.locator("#scene-2-revision")).to_have_text("Revision 2", timeout=30_000)
    await expect(page.locator("#job-status")).to_have_text("Storyboard ready for review")
    await expect(page.locator("#scene-2-frame")).not_to_have_attribute("src", old_frame or "")
    await expect(page.locator("#scene-2-frame")).to_have_js_property("complete", True)
    await shots.take("refined")

    # Reorder with the keyboard: "Move scene 1 later" swaps scenes 1 and 2, focus follows.
    before = await scene_captions(page)
    await page.get_by_role("button", name="Move scene 1 later").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#scene-1-caption")).to_have_value(before[1])
    await expect(page.locator("#scene-2-caption")).to_have_value(before[0])
    await expect(page.locator(":focus")).to_have_id(re.compile(r"^scene-2-"))
    assert (await assert_focus_visible(page)).startswith("scene-2-")
    job = await server_job(system, job_id)
    assert [s["caption"] for s in job["storyboard"]["scenes"][:2]] == before[1::-1]
    await assert_scene_badges(page, len(scenes))  # numbers follow the new order
    await shots.take("reordered")

    # Pointer users drag a scene by its handle: dragging scene 2 onto scene 1 swaps back.
    cards = page.locator("#storyboard-gallery > li")
    # Both ends of the drag on screen (a drag does not scroll the page by itself).
    await page.locator("#storyboard-title").evaluate("h => h.scrollIntoView({block: 'start'})")
    await (
        cards.nth(1)
        .locator(".drag-handle")
        .drag_to(cards.nth(0), target_position={"x": 40, "y": 12})
    )
    await expect(page.locator("#scene-1-caption")).to_have_value(before[0])
    job = await server_job(system, job_id)
    assert [s["caption"] for s in job["storyboard"]["scenes"][:2]] == before[:2]

    # Approve, then render: progress is shown live until the videos are ready.
    await page.get_by_role("button", name="Approve storyboard").click()
    await expect(page.locator("#job-status")).to_have_text("Approved, ready to render")
    await page.get_by_role("button", name="Render videos").click()
    await expect(page.locator("#job-status")).to_have_text(re.compile("Rendering|Completed"))
    await expect(page.locator("#job-progress-message")).not_to_have_text("")
    await shots.take("rendering")
    # The render finishes on the server (a failure shows the job as the server last had
    # it: stalled there, or missed by the console), then the console shows it.
    await system.wait_status(job_id, "completed", client_id=CLIENT, timeout_s=90)
    await expect(page.locator("#job-status")).to_have_text("Completed", timeout=15_000)
    await expect(page.locator("#job-steps [aria-current=step]")).to_have_text("Videos")

    # Each variation plays in a <video>, reaches readyState >= 3 and seeks (Range requests).
    job = await server_job(system, job_id)
    renders = [o for o in job["outputs"] if o["kind"] == "render"]
    assert [o["variation"] for o in renders] == [1, 2]
    await expect(page.locator("#videos-list video")).to_have_count(2)
    for output in renders:
        seek = await play_and_seek(page, f"#variation-{output['variation']}-video")
        assert seek["readyState"] >= 3 and abs(seek["time"] - seek["target"]) < 0.1, seek
        assert abs(seek["duration"] - output["duration_s"]) < 0.2, seek
    assert 206 in video_statuses, f"no Range answer among {video_statuses}"
    for output in renders:
        await assert_render_extras(page, output)
    await shots.take("videos")

    # The download link saves the whole video.
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download variation 1").click()
    download = await download_info.value
    saved = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert len(saved) == renders[0]["size_bytes"] and saved[4:8] == b"ftyp"
    assert download.suggested_filename.endswith("-v1.mp4")

    # Export variation 2 to 1:1: the export appears, square, and can be downloaded.
    await page.get_by_label("Variation", exact=True).select_option("2")
    await page.get_by_label("Aspect ratio").select_option("1:1")
    await page.get_by_role("button", name="Export").click()
    await expect(page.locator("#export-status")).to_have_text("Export to 1:1 ready", timeout=30_000)
    export_video = page.locator("#exports-list video")
    await expect(export_video).to_have_count(1)
    square = await play_and_seek(page, "#exports-list video")
    assert square["width"] == square["height"] > 0, square
    export_link = page.get_by_role("link", name="Download export 1:1 of variation 2")
    await expect(export_link).to_have_attribute("href", re.compile("/exports/"))

    # Estimated and actual cost are both shown (the local engine is free).
    await expect(page.locator("#cost-estimated")).to_have_text("$0.00")
    await expect(page.locator("#cost-actual")).to_contain_text("$0.00")
    await assert_accessible(page, min_controls=30)
    await shots.take("exported-costs")


async def test_console_falls_back_to_polling_without_the_event_stream(
    console_system: System, page: Page
) -> None:
    system = console_system
    shots = Screenshots(page, ARTIFACTS, "polling")
    polls: list[Request] = []
    page.on("request", lambda r: polls.append(r) if re.search(r"/jobs/\w+$", r.url) else None)
    creates: list[Request] = []
    page.on(
        "request",
        lambda r: creates.append(r) if r.method == "POST" and r.url.endswith("/jobs") else None,
    )

    # The event stream cannot be opened (as behind a proxy that refuses streaming).
    await page.route("**/events", lambda route: route.abort())

    # Sign in by pasting a token this time.
    await page.goto(system.base_url + "/")
    await page.get_by_label("Bearer token").fill(system.token(CLIENT))
    await page.get_by_role("button", name="Sign in with token").click()
    await expect(page.locator("#session-status")).to_contain_text(f"Signed in as {CLIENT}")

    # Submit a short brief; the console polls instead, and still sees the storyboard.
    await page.get_by_label("Brief", exact=True).fill(PROMPT)
    await page.get_by_label("Duration (seconds, 5–60)").fill("6")
    await expect(page.locator("#estimate-total")).to_have_text("$0.00")
    await page.get_by_role("button", name="Submit brief").click()
    await expect(page.locator("#job-transport")).to_contain_text("Polling every")
    await expect(page.locator("#job-status")).to_have_text(
        "Storyboard ready for review", timeout=30_000
    )
    await expect(page.locator(".scene-card")).not_to_have_count(0)
    await shots.take("storyboard-by-polling")

    # Style left on Auto: the brief carries no `style`, the gateway chooses.
    await expect(page.get_by_label("Style")).to_have_value("")
    assert len(creates) == 1 and "style" not in (creates[0].post_data_json or {})
    job_id = (await page.evaluate("location.hash")).removeprefix("#job=")
    scenes = (await server_job(system, job_id))["storyboard"]["scenes"]
    await expect(page.locator(".scene-card")).to_have_count(len(scenes))
    await assert_scene_badges(page, len(scenes))

    # Every poll is conditional (the ETag of the previous answer, the first one the ETag
    # of the job's creation), so an unchanged job costs a 304.
    assert polls, "the console never polled"
    conditional = [await p.header_value("if-none-match") for p in polls]
    assert all(conditional), conditional
