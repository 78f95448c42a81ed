"""Every ad carries its brief, reads on a phone and sounds right: rendered ads read back the
way a viewer meets them. OCR of sampled frames finds each key message in its scene, words
on the very first frame (the hook) and the call to action at the end; the uploaded product
is in view most of the time; the sound is at -14 LUFS without clipping; every text box is
inside the platform's safe zone and legible against what is actually behind it.

Each brief renders through the real services (upload, storyboard, approve, render,
download); the checks look at the decoded file, and at the storyboard only to know what
should be on screen when.
"""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from services.renderer.keys import layout_key
from tests.integration.test_assets import upload
from tests.support.system import System
from tests.support.viewer import (
    box_contrast,
    check_layout,
    frames_at,
    loudness,
    ocr,
    product_fraction,
    sample_times,
    video_facts,
    words,
    words_found,
)

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
BRAND = {"colors": ["#ff3366", "#1a1a2e"], "tone": "playful"}
# The product is a bottle in a green no brand colour comes near, with a white label.
PRODUCT_RGB = (20, 200, 90)
# A message counts as read when this share of its words is (OCR misreads some letters).
READ = 0.8
# A headline's kinetic reveal is over this long after its scene starts.
REVEALED_S = 0.6
LUFS_TARGET, LUFS_TOLERANCE, MAX_TRUE_PEAK = -14.0, 1.0, -1.0
SERUM_MESSAGES = ["Brightens skin in 7 days", "98% saw smoother skin", "Vegan and cruelty-free"]


# --- Making and fetching ads -------------------------------------------------------------


def product_png() -> bytes:
    """A bottle cut out on transparency: green body, blank white label, grey cap (no words
    on it, nor in the logo, that a message could be confused with)."""
    width, height = 300, 600
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((105, 0, 195, 70), fill=(70, 70, 70, 255))
    draw.rectangle((95, 70, 205, 150), fill=(*PRODUCT_RGB, 255))
    draw.rounded_rectangle((0, 130, width, height), 60, fill=(*PRODUCT_RGB, 255))
    draw.rectangle((0, 300, width, 420), fill=(255, 255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def logo_png() -> bytes:
    """A word mark in the brand's colours: pink letters on a navy pill."""
    image = Image.new("RGBA", (400, 140), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, 400, 140), 70, fill=(26, 26, 46, 255))
    draw.text((60, 25), "LUMA", font=ImageFont.truetype(str(FONT), 80), fill=(255, 51, 102, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


async def upload_ok(system: System, data: bytes, filename: str, kind: str | None = None) -> str:
    status, body = await upload(system, data, filename, kind=kind)
    assert status == 201, body
    return str(body["asset_id"])


@dataclass
class Ad:
    """One rendered output of a job, downloaded, with what the job said about it."""

    brief: dict[str, Any]
    job: dict[str, Any]
    output: dict[str, Any]
    path: Path
    layout: dict[str, Any] | None

    @property
    def variation(self) -> int:
        return int(self.output["variation"])

    @property
    def storyboard(self) -> dict[str, Any]:
        return dict(self.job["storyboard"])

    @property
    def plan(self) -> dict[str, Any] | None:
        """The variation's plan (style, hook, CTA, hypothesis), if the storyboard has one."""
        plans = self.storyboard.get("variations") or []
        return next((p for p in plans if p["variation"] == self.variation), None)

    @property
    def hook(self) -> str:
        """The opening headline: the variation's hook, else scene 1's headline."""
        plan = self.plan
        return str(plan["hook"]) if plan else str(self.storyboard["scenes"][0]["caption"])

    @property
    def calls_to_action(self) -> list[str]:
        """What the end card must say: the variation's CTA, and the brief's own in the
        first variation (the client's words)."""
        plan, asked = self.plan, self.brief.get("call_to_action")
        wanted = [str(plan["call_to_action"])] if plan else []
        if asked and (self.variation == 1 or not wanted):
            wanted.append(str(asked))
        return list(dict.fromkeys(wanted or ["Shop now"]))


def read_json(path: Path) -> dict[str, Any] | None:
    return dict(json.loads(path.read_text())) if path.is_file() else None


async def render_ads(system: System, tmp_path: Path, **brief: Any) -> list[Ad]:
    """Storyboard, approve and render a brief; every rendered output, downloaded."""
    fields = {"campaign_id": "read-back", "brand": BRAND, **brief}
    job = await system.create_job(**fields)
    return await approve_render_download(system, tmp_path, job, fields)


async def approve_render_download(
    system: System, tmp_path: Path, job: dict[str, Any], fields: dict[str, Any]
) -> list[Ad]:
    """A created job through storyboard, approval and render; its outputs downloaded."""
    await system.wait_status(job["id"], "storyboard_ready", timeout_s=60)
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")
    assert status == 200, body
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/render")
    assert status == 202, body
    job = await system.wait_status(job["id"], "completed", timeout_s=100)
    ads = []
    for output in sorted(job["outputs"], key=lambda o: o["variation"]):
        if output["kind"] != "render":
            continue
        status, video, _ = await system.call("GET", output["url"])
        assert status == 200, video
        path = tmp_path / f"{job['id']}_v{output['variation']}.mp4"
        await asyncio.to_thread(path.write_bytes, video)
        stored = system.settings.video_storage_path / layout_key(job["id"], output["variation"])
        layout = await asyncio.to_thread(read_json, stored)
        ads.append(Ad(dict(fields), job, output, path, layout))
    assert len(ads) == fields.get("variations", 1), job["outputs"]
    return ads


# --- Reading an ad back ------------------------------------------------------------------


@dataclass
class Reading:
    """What a viewer reads on an ad's frames, frame by frame (OCR is run once per time)."""

    ad: Ad
    texts: dict[float, str] = field(default_factory=dict)
    frames: dict[float, Image.Image] = field(default_factory=dict)

    def decode(self, times: list[float]) -> None:
        """Decode the frames at `times` in one pass (ask for all of them up front)."""
        wanted = [t for t in dict.fromkeys(round(t, 3) for t in times) if t not in self.frames]
        self.frames.update(zip(wanted, frames_at(self.ad.path, wanted), strict=True))

    def text_at(self, time: float) -> str:
        """What OCR reads on the frame at `time`."""
        time = round(time, 3)
        if time not in self.texts:
            self.decode([time])
            self.texts[time] = ocr(self.frames[time])
        return self.texts[time]

    def best_read(self, message: str, times: list[float]) -> tuple[float, str]:
        """The share of `message` read over frames at `times` (their text together; stops
        once all of it is read), and that text."""
        seen = ""
        for time in times:
            seen += "\n" + self.text_at(time)
            if words_found(message, seen) == 1.0:
                break
        return words_found(message, seen), seen


def scene_windows(ad: Ad) -> dict[int, tuple[float, float]]:
    """Each scene's start and end in the video (scenes play one after another)."""
    windows, start = {}, 0.0
    for scene in ad.storyboard["scenes"]:
        windows[scene["index"]] = (start, start + scene["duration_s"])
        start += scene["duration_s"]
    return windows


def revealed_times(window: tuple[float, float]) -> list[float]:
    """Up to three times in a scene when its headline is fully revealed and still shown."""
    start, end = window
    first, last = start + REVEALED_S, end - 0.2
    if last <= first:
        return [(start + end) / 2]
    return [first, (first + last) / 2, last]


def placements(ad: Ad) -> dict[str, list[int]]:
    """Per key message of the brief, the scenes that put it on screen: as the scene's claim
    or in its headline, or in its spoken line (shown as the caption layer). In a variation
    whose own hook replaced scene 1's headline, scene 1 shows that hook and its line."""
    scenes = ad.storyboard["scenes"]
    plan = ad.plan
    hook_replaced = plan is not None and plan["hook"] != scenes[0]["caption"]
    placed: dict[str, list[int]] = {}
    for message in ad.brief.get("key_messages", []):
        placed[message] = []
        for scene in scenes:
            if scene["index"] == 1 and hook_replaced and plan is not None:
                shown = [plan["hook"], plan.get("hook_script") or ""]
            else:
                shown = [scene.get("claim") or "", scene["caption"], scene.get("script") or ""]
            if any(words_found(message, text) >= READ for text in shown):
                placed[message].append(scene["index"])
    return placed


def read_back(
    ad: Ad, every_claim: bool, product: bool, logo: bool, reading: Reading | None = None
) -> list[str]:
    """Every way `ad` fails its brief for a viewer (empty: none). `every_claim`: each key
    message must be on screen (none left out for length); `product`, `logo`: the brief
    uploaded one; `reading`: OCR already done on the ad's frames."""
    problems: list[str] = []
    facts = video_facts(ad.path)
    name = f"v{ad.variation}"
    reading = reading or Reading(ad)

    # The output is in the look the brief asked for.
    asked = ad.brief.get("style")
    if asked and ad.output.get("style") != asked:
        problems.append(f"{name}: style {ad.output.get('style')!r}, the brief asked {asked!r}")

    # Every frame OCR may read is decoded in one pass.
    windows, placed, end = scene_windows(ad), placements(ad), facts.duration_s
    held = [end - 1.45, end - 0.1]
    cta_times = [*held, end - 0.8]
    shown_scenes = {1, *(index for scenes in placed.values() for index in scenes)}
    reading.decode(
        [0.0, *cta_times, *(t for i in shown_scenes for t in revealed_times(windows[i]))]
    )

    # Every key message the storyboard puts on screen is read in the scene carrying it.
    left_out = set(ad.storyboard.get("claims_left_out") or [])
    for message, scenes in placed.items():
        if not scenes:
            if every_claim or message not in left_out:
                problems.append(f"{name}: key message {message!r} is on no scene's screen")
            continue
        for index in scenes:
            share, seen = reading.best_read(message, revealed_times(windows[index]))
            if share < READ:
                problems.append(
                    f"{name}: key message {message!r} read {share:.0%} in scene {index} "
                    f"({windows[index][0]:.1f}-{windows[index][1]:.1f} s): {words(seen)}"
                )

    # The hook is readable on the very first frame, and in full once revealed.
    hook = words(ad.hook)
    first = round(words_found(ad.hook, reading.text_at(0.0)) * len(hook))
    if first < min(2, len(hook)):
        problems.append(
            f"{name}: frame 0 shows no words of the hook {ad.hook!r}: {words(reading.text_at(0.0))}"
        )
    share, seen = reading.best_read(ad.hook, revealed_times(windows[1]))
    if share < READ:
        problems.append(f"{name}: hook {ad.hook!r} read {share:.0%} in scene 1: {words(seen)}")

    # The call to action is read on the end card, both 1.45 s and 0.1 s before the end:
    # the end card holds for 1.5 s.
    for cta in ad.calls_to_action:
        share, seen = reading.best_read(cta, cta_times)
        if share < READ:
            problems.append(f"{name}: CTA {cta!r} read {share:.0%} in the last 2 s: {words(seen)}")
            continue
        for time in held:
            if words_found(cta, reading.text_at(time)) < READ:
                problems.append(f"{name}: CTA {cta!r} not read at {time:.2f} s of {end:.2f} s")

    # The uploaded product is in view in at least half the frames (sampled every 0.5 s).
    if product:
        shown = product_fraction(ad.path, PRODUCT_RGB, every_s=0.5)
        if shown < 0.5:
            problems.append(f"{name}: the product is in view in {shown:.0%} of the samples")

    # The sound is at -14 LUFS integrated, its true peak at most -1 dBTP.
    lufs, dbtp = loudness(ad.path)
    if abs(lufs - LUFS_TARGET) > LUFS_TOLERANCE:
        problems.append(f"{name}: loudness {lufs:.1f} LUFS, not {LUFS_TARGET}±{LUFS_TOLERANCE}")
    if dbtp > MAX_TRUE_PEAK:
        problems.append(f"{name}: true peak {dbtp:.2f} dBTP > {MAX_TRUE_PEAK}")

    # The layout has the headlines of the hook and the claims, the CTA (and the logo), and
    # every box is inside the safe zone and legible.
    if ad.layout is None:
        problems.append(f"{name}: no layout.json beside the video")
        return problems
    kinds = {(box["scene"], box["kind"]) for box in ad.layout.get("boxes", [])}
    missing = sorted(i for i in shown_scenes if (i, "headline") not in kinds)
    if missing:
        problems.append(f"{name}: the layout has no headline box in scenes {missing}")
    wanted = ["cta", "logo"] if logo else ["cta"]
    for kind in wanted:
        if not any(k == kind for _, k in kinds):
            problems.append(f"{name}: the layout has no {kind} box")
    problems.extend(f"{name}: {problem}" for problem in check_layout(ad.path, ad.layout))
    return problems


async def assert_reads_back(
    ads: list[Ad], every_claim: bool = False, product: bool = True, logo: bool = False
) -> None:
    """Fail with every problem of every ad (see `read_back`), not just the first."""
    problems: list[str] = []
    for ad in ads:
        problems += await asyncio.to_thread(read_back, ad, every_claim, product, logo)
    assert not problems, "\n".join(problems)


def differs(a: Ad, b: Ad, first_frames: dict[int, str]) -> bool:
    """Whether a viewer tells two variations apart: another look, or another hook read on
    the first frame (a's hook is read better on a's first frame than on b's)."""
    if a.output.get("style") != b.output.get("style"):
        return True
    if words(a.hook) == words(b.hook):
        return False
    text_a, text_b = first_frames[a.variation], first_frames[b.variation]
    return words_found(a.hook, text_a) > words_found(a.hook, text_b) or (
        words_found(b.hook, text_b) > words_found(b.hook, text_a)
    )


# --- The briefs --------------------------------------------------------------------------


async def test_tiktok_serum_ad_carries_its_three_claims(
    phone_system: System, tmp_path: Path
) -> None:
    # A 15 s TikTok brief: a product image, a logo, three claims, a CTA, the bold look.
    product = await upload_ok(phone_system, product_png(), "serum.png")
    logo = await upload_ok(phone_system, logo_png(), "logo.png", kind="logo")
    (ad,) = await render_ads(
        phone_system,
        tmp_path,
        prompt="Introducing Glow Serum, a vitamin C serum for dull skin.",
        platform="tiktok",
        duration_s=15,
        product="Glow Serum",
        audience="women 25-40 who care about skincare",
        key_messages=SERUM_MESSAGES,
        call_to_action="Shop Glow Serum",
        style="bold",
        assets=[product],
        brand={**BRAND, "logo_asset_id": logo},
    )

    # The output is 540x960.
    facts = video_facts(ad.path)
    assert (facts.width, facts.height) == (540, 960)

    # All three claims, the hook, the CTA, the product, the sound and the layout read back.
    await assert_reads_back([ad], every_claim=True, product=True, logo=True)


async def test_five_second_reels_in_three_variations(phone_system: System, tmp_path: Path) -> None:
    # A 5 s Reels brief with a product, one claim and a CTA, in three variations.
    product = await upload_ok(phone_system, product_png(), "bottle.png")
    ads = await render_ads(
        phone_system,
        tmp_path,
        prompt="Hydra Mist, a face mist that keeps skin fresh all day.",
        platform="instagram_reel",
        duration_s=5,
        product="Hydra Mist",
        key_messages=["Hydrates for 24 hours"],
        call_to_action="Try Hydra Mist",
        variations=3,
        assets=[product],
    )

    # Each variation says what it tests, and no two test the same thing.
    problems: list[str] = []
    hypotheses = [str(ad.output.get("hypothesis") or "").strip() for ad in ads]
    if not all(hypotheses) or len(set(hypotheses)) != len(ads):
        problems.append(f"hypotheses missing or alike: {hypotheses}")

    # A viewer tells every two variations apart: another look or another hook on frame 0.
    readings = {ad.variation: Reading(ad) for ad in ads}
    first_frames = {
        variation: await asyncio.to_thread(reading.text_at, 0.0)
        for variation, reading in readings.items()
    }
    alike = [
        (a.variation, b.variation)
        for a in ads
        for b in ads
        if a.variation < b.variation and not differs(a, b, first_frames)
    ]
    if alike:
        styles = [ad.output.get("style") for ad in ads]
        problems.append(
            f"variations look alike: {alike} (styles {styles}, first frames read "
            f"{ {v: words(t) for v, t in first_frames.items()} })"
        )

    # Every variation reads back: hook, claim (if placed), CTA, product, sound, layout.
    for ad in ads:
        reading = readings[ad.variation]
        problems += await asyncio.to_thread(read_back, ad, False, True, False, reading)
    assert not problems, "\n".join(problems)


async def test_youtube_short_in_the_clean_look_with_the_brand_font(
    phone_system: System, tmp_path: Path
) -> None:
    # A 10 s YouTube Short with a product, the brand's font, two claims, the clean look.
    product = await upload_ok(phone_system, product_png(), "bottle.png")
    font_file = await asyncio.to_thread(FONT.read_bytes)
    font = await upload_ok(phone_system, font_file, "brand.ttf", kind="font")
    (ad,) = await render_ads(
        phone_system,
        tmp_path,
        prompt="Cold Brew Co. bottled cold brew coffee, smooth and strong.",
        platform="youtube_short",
        duration_s=10,
        product="Cold Brew Co.",
        key_messages=["Brewed cold for 20 hours", "Zero added sugar"],
        call_to_action="Order a case",
        style="clean",
        assets=[product],
        brand={**BRAND, "font_asset_id": font},
    )

    # The output is 540x960; hook, claims, CTA, product, sound and layout read back.
    facts = video_facts(ad.path)
    assert (facts.width, facts.height) == (540, 960)
    await assert_reads_back([ad], product=True)


async def test_square_feed_ad_in_the_social_look(small_system: System, tmp_path: Path) -> None:
    # A 30 s Instagram feed (1:1) brief with product, logo, three claims, the social look.
    product = await upload_ok(small_system, product_png(), "bottle.png")
    logo = await upload_ok(small_system, logo_png(), "logo.png", kind="logo")
    (ad,) = await render_ads(
        small_system,
        tmp_path,
        prompt="Trail Mix Bar: a protein bar for hikers, made with real nuts.",
        platform="instagram_feed",
        duration_s=30,
        product="Trail Mix Bar",
        key_messages=["15 g of plant protein", "Made with real nuts", "No palm oil"],
        call_to_action="Get 20% off",
        style="social",
        assets=[product],
        brand={**BRAND, "logo_asset_id": logo},
    )

    # The output is 360x360; every claim, hook, CTA, product, sound and layout read back.
    facts = video_facts(ad.path)
    assert (facts.width, facts.height) == (360, 360)
    await assert_reads_back([ad], every_claim=True, product=True, logo=True)


async def test_landscape_youtube_ad_without_a_product_image(
    small_system: System, tmp_path: Path
) -> None:
    # A 60 s YouTube (16:9) brief with a logo and four claims, and no product image.
    logo = await upload_ok(small_system, logo_png(), "logo.png", kind="logo")
    (ad,) = await render_ads(
        small_system,
        tmp_path,
        prompt="Nimbus, project management software for small agencies.",
        platform="youtube",
        duration_s=60,
        product="Nimbus",
        audience="agency owners",
        key_messages=[
            "Plan every project in one place",
            "Invoices send themselves",
            "Set up in ten minutes",
            "Free for teams of five",
        ],
        call_to_action="Start free trial",
        brand={**BRAND, "logo_asset_id": logo},
    )

    # The output is 640x360; every claim, hook, CTA, sound and layout read back.
    facts = video_facts(ad.path)
    assert (facts.width, facts.height) == (640, 360)
    await assert_reads_back([ad], every_claim=True, product=False, logo=True)


async def test_tiktok_ad_shows_its_disclaimer_long_enough_and_the_ai_label(
    phone_system: System, tmp_path: Path
) -> None:
    # A 10 s TikTok brief whose brand kit requires a legal line and shows the AI label.
    disclaimer = "Results vary. Not medical advice."
    product = await upload_ok(phone_system, product_png(), "serum.png")
    (ad,) = await render_ads(
        phone_system,
        tmp_path,
        prompt="Glow Serum, a vitamin C serum for dull skin.",
        platform="tiktok",
        duration_s=10,
        product="Glow Serum",
        key_messages=["Brightens skin in 7 days"],
        call_to_action="Shop Glow Serum",
        style="bold",
        assets=[product],
        brand={**BRAND, "disclaimers": [disclaimer], "ai_label": True},
    )
    problems: list[str] = []
    assert ad.layout is not None
    zone = [float(v) for v in ad.layout["safe_zone"]]
    windows = scene_windows(ad)
    scenes = ad.storyboard["scenes"]

    # The storyboard carries the line from the end card backwards, long enough to read
    # at 3 words a second plus a second.
    carrying = [s["index"] for s in scenes if disclaimer in s.get("disclaimers", [])]
    if not carrying or carrying[-1] != scenes[-1]["index"]:
        problems.append(f"the end card does not carry the disclaimer: {carrying}")
    shown_s = sum(windows[i][1] - windows[i][0] for i in carrying)
    if shown_s < len(words(disclaimer)) / 3 + 1:
        problems.append(f"the disclaimer is on screen {shown_s:.1f} s, too short to read")

    # Read back in the decoded frames: the line in the scenes carrying it (and not in the
    # others), the label in every scene, inside the safe zone, at 4.5:1 or better.
    boxes = [b for b in ad.layout["boxes"] if b["kind"] in ("disclaimer", "ai_label")]
    legal_scenes = sorted(b["scene"] for b in boxes if b["kind"] == "disclaimer")
    label_scenes = sorted(b["scene"] for b in boxes if b["kind"] == "ai_label")
    if legal_scenes != carrying or label_scenes != [s["index"] for s in scenes]:
        problems.append(f"layout: disclaimer in {legal_scenes}, label in {label_scenes}")
    legal_box = next((b["box"] for b in boxes if b["kind"] == "disclaimer"), None)
    assert legal_box is not None, "\n".join(problems)
    empty = [i for i in windows if i not in carrying]
    times = [(b["from_s"] + b["to_s"]) / 2 for b in boxes]
    times += [sum(windows[i]) / 2 for i in empty]
    frames = dict(zip(times, await asyncio.to_thread(frames_at, ad.path, times), strict=True))
    for entry in boxes:
        name = f"scene {entry['scene']} {entry['kind']}"
        x0, y0, x1, y1 = (float(v) for v in entry["box"])
        box = (x0, y0, x1, y1)
        if not all(box[i] >= zone[i] and box[i + 2] <= zone[i + 2] for i in (0, 1)):
            problems.append(f"{name}: {box} is outside the safe zone {zone}")
        frame = frames[(entry["from_s"] + entry["to_s"]) / 2]
        # In a sans face the capital I of "AI" is the glyph of a lowercase l.
        wanted = disclaimer if entry["kind"] == "disclaimer" else "AI-generated"
        seen = await asyncio.to_thread(ocr, frame, box, 3)
        if max(words_found(wanted, seen), words_found(wanted.replace("I", "l"), seen)) < 1.0:
            problems.append(f"{name}: OCR read {words(seen)}, not {wanted!r}")
        contrast = box_contrast(frame, box, entry["ink"])
        if contrast.ratio < 4.5:
            problems.append(f"{name}: contrast {contrast.ratio:.2f}:1 on {contrast.background}")
    for index in empty:
        seen = await asyncio.to_thread(ocr, frames[sum(windows[index]) / 2], legal_box, 3)
        if words_found(disclaimer, seen) >= 0.5:
            problems.append(f"scene {index} shows the disclaimer it does not carry: {words(seen)}")

    # The rest of the ad still reads back: hook, claim, CTA, product, sound, every box.
    problems += await asyncio.to_thread(read_back, ad, False, True, False)
    assert not problems, "\n".join(problems)


async def test_a_one_line_brief_puts_its_product_and_its_claim_on_screen(
    phone_system: System, tmp_path: Path
) -> None:
    # A prompt and nothing else: no product field, no key messages, no upload. The product
    # is named straight after "ad for", and the rest of the sentence is its promise.
    (ad,) = await render_ads(
        phone_system,
        tmp_path,
        prompt="Launch ad for Zeno7, a smart water bottle that keeps drinks cold 24 hours.",
        platform="tiktok",
        duration_s=10,
    )

    # A viewer reads the promise and the product's name in the video (every 0.5 s).
    reading = Reading(ad)
    times = sample_times(0.0, video_facts(ad.path).duration_s, 0.5)
    reading.decode(times)
    for text in ("Keeps drinks cold 24 hours", "Zeno7"):
        share, seen = await asyncio.to_thread(reading.best_read, text, times)
        assert share >= READ, f"{text!r} read {share:.0%}: {words(seen)}"

    # And the rest of what every ad must do: hook on frame 0, CTA, sound, layout.
    assert await asyncio.to_thread(read_back, ad, False, False, False, reading) == []
