"""A brief travels to a reviewed, refined and approved storyboard through HTTP."""

from __future__ import annotations

import io
import statistics

from PIL import Image

from shared.creative.frame import storyboard_frame
from shared.creative.layout import SceneDesign, scene_layout
from shared.creative.palette import brand_palette, relative_luminance
from tests.support.system import System


async def test_brief_to_approved_storyboard(system: System) -> None:
    # A client submits a brief; the job is accepted at once, queued.
    job = await system.create_job(duration_s=20)
    assert job["status"] == "queued"
    assert 2000 <= job["poll_after_ms"] <= 10000

    # The storyboard worker plans and draws it; the poller sees it ready for review.
    job = await system.wait_status(job["id"], "storyboard_ready")
    scenes = job["storyboard"]["scenes"]
    assert [s["index"] for s in scenes] == list(range(1, len(scenes) + 1))
    assert abs(sum(s["duration_s"] for s in scenes) - 20) < 1e-6
    # Scenes carry the brief's claims (fewer, longer scenes when claims run out: no filler).
    assert all(s["duration_s"] >= 1.5 for s in scenes) and scenes[-1]["duration_s"] >= 3
    assert scenes[0]["beat"] == "hook" and scenes[-1]["beat"] == "cta"
    assert all("#ff3366" in s["visual_prompt"] and "playful" in s["visual_prompt"] for s in scenes)
    assert job["progress"]["percent"] == 100
    assert job["poll_after_ms"] == 10000  # waiting on the user: poll slowly

    # Every scene's frame is a JPEG at the platform's aspect (9:16).
    for scene in scenes:
        status, body, response = await system.call("GET", scene["image_url"])
        assert status == 200 and response.content_type == "image/jpeg"
        width, height = Image.open(io.BytesIO(body)).size
        assert abs(width / height - 9 / 16) < 0.02
    frames = [(await system.call("GET", s["image_url"]))[1] for s in scenes]
    assert len(set(frames)) == len(frames)  # every scene has its own frame

    # The client asks for scene 2 to change; it is regenerated, the rest kept.
    before = {s["index"]: s for s in scenes}
    status, body, _ = await system.call(
        "POST",
        f"/api/v2/jobs/{job['id']}/scenes/2/refine",
        json={"feedback": 'Warmer light, caption "Glow all day"'},
    )
    assert status == 202 and body["status"] == "refining"
    job = await system.wait_status(job["id"], "storyboard_ready")
    after = {s["index"]: s for s in job["storyboard"]["scenes"]}
    assert after[2]["caption"] == "Glow all day"
    assert after[2]["revision"] == 2 and "Warmer light" in after[2]["visual_prompt"]
    assert after[2]["image_url"] != before[2]["image_url"]
    assert all(after[i] == before[i] for i in before if i != 2)

    # Approving records who-knows-when and moves the job on.
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")
    assert status == 200
    assert body["status"] == "approved" and body["approved"] is True and body["approved_at"]

    # Approving twice is a conflict, with the JSON error shape.
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")
    assert status == 409 and body["error"]["code"] == "conflict"


async def test_frames_are_drawn_by_the_design_system_without_a_scene_counter(
    system: System,
) -> None:
    # A brief in the bold style, no uploads: the local backend draws its storyboard.
    colors = ["#ff3366", "#1a1a2e"]
    job = await system.create_job(style="bold", brand={"colors": colors, "tone": "playful"})
    job = await system.wait_status(job["id"], "storyboard_ready")
    storyboard = job["storyboard"]
    assert storyboard["style"] == "bold"

    for scene in storyboard["scenes"]:
        status, body, _ = await system.call("GET", scene["image_url"])
        assert status == 200
        frame = Image.open(io.BytesIO(body)).convert("RGB")
        design = SceneDesign(
            size=frame.size,
            platform="tiktok",
            style="bold",
            beat=scene["beat"],
            headline=scene["caption"],
            call_to_action="Shop now",
            palette=tuple(brand_palette(colors)),
            seed=job["id"],
        )
        # The frame is the design system's frame of the scene and nothing more: no scene
        # number (the console draws review chrome), whatever the scene's place.
        expected = Image.open(io.BytesIO(storyboard_frame(design, scene["script"])))
        worst = max(
            abs(a - b)
            for a, b in zip(frame.tobytes(), expected.convert("RGB").tobytes(), strict=True)
        )
        assert worst <= 8, f"scene {scene['index']} differs from its design by {worst}"

    # The bold look: the hook's headline sits on dark strips over the brand's pink field.
    hook = storyboard["scenes"][0]
    _, body, _ = await system.call("GET", hook["image_url"])
    frame = Image.open(io.BytesIO(body)).convert("RGB")
    design = SceneDesign(
        size=frame.size,
        platform="tiktok",
        style="bold",
        beat=hook["beat"],
        headline=hook["caption"],
        palette=tuple(brand_palette(colors)),
        seed=job["id"],
    )
    headline = scene_layout(design).headline
    assert headline is not None and headline.line_boxes

    def median_luminance(box: tuple[int, int, int, int]) -> float:
        rgb = frame.crop(box).tobytes()
        pixels = zip(rgb[0::3], rgb[1::3], rgb[2::3], strict=True)
        return statistics.median(relative_luminance(pixel) for pixel in pixels)

    # (emphasised words sit on accent blocks instead of strips)
    assert any(median_luminance(strip) < 0.05 for strip in headline.line_boxes)
    assert median_luminance((0, 0, *frame.size)) > 0.1


async def test_editing_the_storyboard_clears_approval(system: System) -> None:
    # A storyboard is made and approved.
    job = await system.create_job(duration_s=15)
    job = await system.wait_status(job["id"], "storyboard_ready")
    first = job["storyboard"]["scenes"][0]
    _, first_frame, _ = await system.call("GET", first["image_url"])
    await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")

    # The client rewrites scene 1's caption and moves the last scene first.
    count = len(job["storyboard"]["scenes"])
    order = [count, *range(1, count)]
    status, body, _ = await system.call(
        "PATCH",
        f"/api/v2/jobs/{job['id']}/storyboard",
        json={"scenes": [{"index": 1, "caption": "New words"}], "order": order},
    )
    assert status == 200, body
    assert body["approved"] is False and body["approved_at"] is None
    assert body["status"] == "storyboard_ready"
    scenes = body["storyboard"]["scenes"]
    assert scenes[1]["caption"] == "New words" and scenes[1]["beat"] == first["beat"]
    assert scenes[0]["beat"] == "cta"

    # The moved scenes keep their own frames, under a new versioned URL.
    status, frame, _ = await system.call("GET", scenes[1]["image_url"])
    assert status == 200 and frame == first_frame
    assert scenes[0]["image_url"] != first["image_url"]

    # A bad order or an out-of-range total is refused with the field named.
    status, body, _ = await system.call(
        "PATCH", f"/api/v2/jobs/{job['id']}/storyboard", json={"order": [1, 1]}
    )
    assert status == 422 and body["error"]["details"][0]["field"] == "order"
    status, body, _ = await system.call(
        "PATCH",
        f"/api/v2/jobs/{job['id']}/storyboard",
        json={"scenes": [{"index": 1, "duration_s": 30}, {"index": 2, "duration_s": 30}]},
    )
    assert status == 422 and "60" in body["error"]["message"]

    # Refining a scene that does not exist is a 404.
    status, body, _ = await system.call(
        "POST", f"/api/v2/jobs/{job['id']}/scenes/99/refine", json={"feedback": "x"}
    )
    assert status == 404


async def test_polling_is_cached_with_etags(system: System) -> None:
    # A finished storyboard polled twice: the second poll with the ETag is a 304.
    job = await system.create_job()
    await system.wait_status(job["id"], "storyboard_ready")
    status, _, first = await system.call("GET", f"/api/v2/jobs/{job['id']}")
    etag = first.headers["ETag"]
    status, body, second = await system.call(
        "GET", f"/api/v2/jobs/{job['id']}", headers={"If-None-Match": etag}
    )
    assert status == 304 and body == b""
    assert second.headers["ETag"] == etag

    # A change to the job changes its ETag.
    await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")
    status, _, third = await system.call(
        "GET", f"/api/v2/jobs/{job['id']}", headers={"If-None-Match": etag}
    )
    assert status == 200 and third.headers["ETag"] != etag


async def test_list_filters_and_paginates(system: System) -> None:
    # Three jobs of one client in two campaigns, one of another client.
    ids = [
        (await system.create_job(campaign_id=campaign))["id"]
        for campaign in ("alpha", "alpha", "beta")
    ]
    await system.create_job(client_id="client-b", campaign_id="alpha")

    # The client sees only its own, newest first, two per page.
    status, page1, _ = await system.call("GET", "/api/v2/jobs?limit=2")
    assert status == 200 and len(page1["items"]) == 2 and page1["next_cursor"]
    status, page2, _ = await system.call(
        "GET", f"/api/v2/jobs?limit=2&cursor={page1['next_cursor']}"
    )
    seen = [j["id"] for j in page1["items"] + page2["items"]]
    assert sorted(seen) == sorted(ids) and page2["next_cursor"] is None

    # Filters narrow by campaign and status.
    status, alpha, _ = await system.call("GET", "/api/v2/jobs?campaign_id=alpha")
    assert {j["id"] for j in alpha["items"]} == set(ids[:2])
    status, none, _ = await system.call("GET", "/api/v2/jobs?status=completed")
    assert none["items"] == []

    # An admin sees every client's jobs; bad filters are a 400 naming the problem.
    status, everything, _ = await system.call(
        "GET", "/api/v2/jobs?limit=100", client_id="root", role="admin"
    )
    assert status == 200 and len(everything["items"]) == 4
    status, body, _ = await system.call("GET", "/api/v2/jobs?status=nope")
    assert status == 400 and "status" in body["error"]["message"]
    status, body, _ = await system.call("GET", "/api/v2/jobs?cursor=%%%")
    assert status == 422
