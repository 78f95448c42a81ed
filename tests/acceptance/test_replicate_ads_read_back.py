"""An ad made by models reads back as one made locally: on the replicate backend (the fake
Replicate server's LLM, image, clip and voice models), the rendered ad shows each key
message in the scene that carries it, words on the very first frame and the call to
action at the end; the uploaded product is in view most of the time; the sound is at
-14 LUFS without clipping; every text box is inside the safe zone and legible; and the
captions file says the voice-over's words, each timed to where the voice starts it.

The brief renders through the real services (upload, storyboard, approve, render,
download); the checks look at the decoded file, the captions file and the stored voice,
and at the storyboard only to know what should be on screen when.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.acceptance.test_ads_read_back import (
    BRAND,
    SERUM_MESSAGES,
    Ad,
    approve_render_download,
    assert_reads_back,
    logo_png,
    product_png,
    read_back,
)
from tests.integration.test_assets import upload
from tests.support.system import System
from tests.support.viewer import (
    decode_audio,
    nearest_gap,
    video_facts,
    voice_onsets,
    vtt_words,
    words,
)
from tests.support.waiting import eventually
from tools.fake_replicate import FakeReplicate

VOICE = "minimax/speech-02-hd"
# A caption word starts this close to where the voice starts saying it...
WORD_ONSET_S = 0.15
# ... for at least this share of the words (the fake's speech has silence between words).
# Measured over 12 runs of the placed voice: 85-100% (a word or two near a scene's edge
# lands 0.2-0.5 s off when the first, whole-voice alignment splits scenes a word early).
WORDS_ON_TIME = 0.8


async def upload_ok(system: System, data: bytes, filename: str, kind: str | None = None) -> str:
    """Upload once the assets service answers (503 until its handlers register)."""
    status, body = await eventually(
        lambda: upload(system, data, filename, kind=kind),
        lambda answer: answer[0] != 503,
        timeout_s=30,
    )
    assert status == 201, body
    return str(body["asset_id"])


async def render_ads(system: System, tmp_path: Path, **brief: Any) -> list[Ad]:
    """Storyboard, approve and render a brief; every rendered output, downloaded."""
    fields = {"campaign_id": "read-back", "brand": BRAND, **brief}
    # Billing prices a replicate brief before the gateway accepts it (503 until it answers).
    status, job, _ = await eventually(
        lambda: system.call("POST", "/api/v2/jobs", json=fields),
        lambda answer: answer[0] != 503,
        timeout_s=30,
    )
    assert status == 202, job
    return await approve_render_download(system, tmp_path, job, fields)


def captions_follow_the_voice(vtt: str, voice: Path, video_s: float) -> list[str]:
    """Every way the captions' word times miss the voice-over (empty: none): each word's
    start in the WebVTT file should fall within `WORD_ONSET_S` of a rise of the voice's
    energy after a silence, for at least `WORDS_ON_TIME` of the words; and every word is
    said (and captioned) before the video, `video_s` long, ends."""
    cue_words = vtt_words(vtt)
    if not cue_words:
        return ["the captions have no words"]
    samples, rate = decode_audio(voice)
    onsets = voice_onsets(samples, rate)
    late = [
        (w.word, w.start_s, nearest_gap(w.start_s, onsets))
        for w in cue_words
        if nearest_gap(w.start_s, onsets) > WORD_ONSET_S
    ]
    untimed = [w.word for w in cue_words if not w.timed]
    after = [f"{w.word!r} at {w.start_s:.2f} s" for w in cue_words if w.start_s >= video_s]
    problems = []
    on_time = 1 - len(late) / len(cue_words)
    if on_time < WORDS_ON_TIME:
        shown = ", ".join(f"{word!r} at {at:.2f} s ({gap:.2f} s off)" for word, at, gap in late)
        problems.append(
            f"{on_time:.0%} of {len(cue_words)} caption words start within {WORD_ONSET_S} s "
            f"of the voice saying them ({len(onsets)} onsets in the voice): {shown}"
        )
    if untimed:
        problems.append(f"caption words without a time of their own: {untimed}")
    if after:
        voice_s = samples.shape[0] / rate
        problems.append(
            f"{len(after)} of {len(cue_words)} caption words start after the {video_s:.2f} s "
            f"video ends (the voice-over is {voice_s:.2f} s long): {', '.join(after)}"
        )
    return problems


def said_by_the_voice(fake: FakeReplicate) -> list[str]:
    """The words the voice model was asked to say (one voice-over per job)."""
    texts = [str(r.input.get("text", "")) for r in fake.predictions.values() if r.model == VOICE]
    assert len(texts) == 1, texts
    return words(texts[0])


async def captions_problems(system: System, fake: FakeReplicate, ad: Ad) -> list[str]:
    """`captions_follow_the_voice` for an ad: its captions as the gateway serves them,
    against the job's voice-over in storage; and the captions say the voice's words."""
    job_id, variation = ad.job["id"], ad.variation
    status, vtt, response = await system.call(
        "GET", f"/api/v2/jobs/{job_id}/captions.vtt", params={"variation": variation}
    )
    assert status == 200, vtt
    assert response.content_type == "text/vtt"
    # The voice heard in this variation: the model's voice-over cut and placed on its cuts.
    folder = system.settings.video_storage_path / "videos" / job_id
    if variation > 1:
        folder = folder / f"v{variation}"
    voices = sorted(folder.glob("voice_placed.wav"))
    assert voices, "no placed voice-over in storage"
    duration = video_facts(ad.path).duration_s
    text = vtt.decode("utf-8")
    problems = await asyncio.to_thread(captions_follow_the_voice, text, voices[0], duration)
    captioned, said = [w for c in vtt_words(text) for w in words(c.word)], said_by_the_voice(fake)
    if captioned != said:
        at = next(
            (i for i, (a, b) in enumerate(zip(captioned, said, strict=False)) if a != b),
            min(len(captioned), len(said)),
        )
        problems.append(
            f"the captions say {' '.join(captioned[at : at + 8])!r} at word {at + 1} where the "
            f"voice says {' '.join(said[at : at + 8])!r} ({len(captioned)} words captioned, "
            f"{len(said)} said)"
        )
    return [f"v{variation} captions: {problem}" for problem in problems]


async def test_replicate_tiktok_serum_ad_reads_back_and_its_captions_follow_the_voice(
    replicate_phone_system: System, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    system = replicate_phone_system
    # A 15 s TikTok brief: a product image, a logo, three claims, a CTA, the bold look.
    product = await upload_ok(system, product_png(), "serum.png")
    logo = await upload_ok(system, logo_png(), "logo.png", kind="logo")
    (ad,) = await render_ads(
        system,
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

    # The model's storyboard names each key message as a scene's claim; the output is
    # 540x960 and about 15 s.
    claims = [scene.get("claim") for scene in ad.storyboard["scenes"]]
    assert all(message in claims for message in SERUM_MESSAGES), claims
    facts = video_facts(ad.path)
    assert (facts.width, facts.height) == (540, 960)
    assert abs(facts.duration_s - 15) <= 0.3, facts

    # The captions file's words start where the voice-over (in storage) says them.
    timing = await captions_problems(system, fake_replicate, ad)

    # Every claim, the hook, the CTA, the product, the sound and the layout read back.
    try:
        await assert_reads_back([ad], every_claim=True, product=True, logo=True)
    except AssertionError as failed:
        raise AssertionError("\n".join([str(failed), *timing])) from None
    assert not timing, "\n".join(timing)


async def test_replicate_five_second_reels_in_two_variations(
    replicate_phone_system: System, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    system = replicate_phone_system
    # A 5 s Reels brief with a product, one claim and a CTA, in two variations.
    product = await upload_ok(system, product_png(), "bottle.png")
    ads = await render_ads(
        system,
        tmp_path,
        prompt="Hydra Mist, a face mist that keeps skin fresh all day.",
        platform="instagram_reel",
        duration_s=5,
        product="Hydra Mist",
        key_messages=["Hydrates for 24 hours"],
        call_to_action="Try Hydra Mist",
        variations=2,
        assets=[product],
    )

    # Each variation reads back (hook, claim if placed, CTA, product, sound, layout), and
    # its captions follow the voice-over.
    problems: list[str] = []
    for ad in ads:
        problems += await asyncio.to_thread(read_back, ad, False, True, False)
        problems += await captions_problems(system, fake_replicate, ad)
    assert not problems, "\n".join(problems)
