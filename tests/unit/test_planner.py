"""Scene planning of the local engine: grounded in the brief, timed to the length,
deterministic; variations, refinement."""

from __future__ import annotations

import re

import pytest

from shared.models import GenerationRequest, Storyboard
from shared.providers.local.planner import (
    beat_plan,
    beats,
    durations,
    plan_scenes,
    plan_storyboard,
    refine_scene,
    scene_count,
)

PROMPT = (
    "Introducing Glow Serum, a vitamin C serum for busy women tired of dull skin. "
    "Visibly brighter skin in 7 days. 98% saw smoother skin. Vegan and cruelty-free. "
    "Loved by 50,000 customers. Get 20% off your first order."
)
KEY_MESSAGES = ["Brighter skin in 7 days", "98% saw smoother skin", "Zero parabens, zero fuss"]
NUMBER = re.compile(r"\d+(?:[.,]\d+)*%?")


def _request(**fields: object) -> GenerationRequest:
    values: dict[str, object] = {
        "campaign_id": "c",
        "prompt": "Introducing Zephyr Buds. 30 hours of battery. Noise cancelling that works.",
        "platform": "tiktok",
        "duration_s": 30,
        "brand": {"colors": ["#112233"], "tone": "bold"},
    }
    values.update(fields)
    return GenerationRequest.model_validate(values)


def _captions(board: Storyboard) -> list[str]:
    return [scene.caption for scene in board.scenes]


def _claim_capacity(duration: int) -> int:
    """Claims an ad of `duration` s holds at least: the hook plus its benefit scenes."""
    return 1 if duration < 8 else 2 if duration < 13 else 3


@pytest.mark.parametrize("duration", range(5, 61))
def test_durations_sum_exactly_and_stay_in_range(duration: int) -> None:
    # Every allowed length splits into scenes summing exactly, none under 1.5 s.
    parts = durations(beats(scene_count(duration)), duration)
    assert abs(sum(parts) - duration) < 1e-9
    assert min(parts) >= 1.5
    # The call to action gets 3 s to be read; 3-6 s a scene whenever the total allows it.
    assert parts[-1] >= 3
    if duration >= 9 or duration in (6, 7):
        assert all(3 <= p <= 6 for p in parts), parts
    # The hook is a little shorter than the scenes after it.
    assert parts[0] <= min(parts[1:])


@pytest.mark.parametrize("duration", range(5, 61))
def test_every_key_message_is_on_screen_and_said(duration: int) -> None:
    # The key messages the length holds are headlines (verbatim) and said in their scene.
    request = _request(prompt=PROMPT, duration_s=duration, key_messages=KEY_MESSAGES)
    board = plan_storyboard("job-1", request)
    fitting = KEY_MESSAGES[: _claim_capacity(duration)]
    for message in fitting:
        scene = next(s for s in board.scenes if s.caption == message)
        assert message in scene.script and scene.claim == message
    # The ones that do not fit are listed, in order; all claims are accounted for once.
    assert board.claims_left_out[: len(KEY_MESSAGES) - len(fitting)] == KEY_MESSAGES[len(fitting) :]
    shown = [s.claim for s in board.scenes if s.claim]
    assert len(shown) == len(set(shown))
    assert not set(shown) & set(board.claims_left_out)
    # Timing still sums exactly.
    assert sum(s.duration_s for s in board.scenes) == pytest.approx(duration)
    assert [s.index for s in board.scenes] == list(range(1, len(board.scenes) + 1))


def test_many_key_messages_push_out_problem_and_proof() -> None:
    # Six key messages in 24 s: more, shorter scenes first, then the proof beat goes.
    messages = [f"Message {n} is true" for n in range(1, 7)]
    board = plan_storyboard("j", _request(prompt=PROMPT, duration_s=24, key_messages=messages))
    assert [s.claim for s in board.scenes if s.claim] == messages
    assert [s.beat for s in board.scenes] == [
        "hook",
        "problem",
        "solution",
        *["benefit"] * 4,
        "cta",
    ]
    assert all(s.duration_s >= 3 for s in board.scenes)
    # In 20 s (at most 6 scenes of 3 s) the problem goes too, and one message is left out.
    short = plan_storyboard("j", _request(prompt=PROMPT, duration_s=20, key_messages=messages))
    assert [s.claim for s in short.scenes if s.claim] == messages[:5]
    assert short.claims_left_out[0] == messages[5] and "problem" not in [
        s.beat for s in short.scenes
    ]


def test_a_15_s_ad_carries_the_two_strongest_claims_and_a_benefit_beat() -> None:
    # Without key messages: the boldest (numbered) claim hooks, the next one follows.
    board = plan_storyboard("j", _request(prompt=PROMPT, duration_s=15))
    assert [s.beat for s in board.scenes] == ["hook", "solution", "benefit", "cta"]
    assert _captions(board)[:3] == [
        "Visibly brighter skin in 7 days",
        "98% saw smoother skin",
        "Vegan and cruelty-free",
    ]
    assert board.claims_left_out == ["Loved by 50,000 customers"]


@pytest.mark.parametrize(
    ("duration", "arc"),
    [
        (5, ["hook", "cta"]),
        (7, ["hook", "cta"]),
        (8, ["hook", "benefit", "cta"]),
        (12, ["hook", "benefit", "cta"]),
        (13, ["hook", "solution", "benefit", "cta"]),
        (17, ["hook", "solution", "benefit", "cta"]),
        (27, ["hook", "problem", "solution", "benefit", "proof", "cta"]),
    ],
)
def test_beat_structure_follows_the_length(duration: int, arc: list[str]) -> None:
    # Short ads skip the problem; long ones add problem (the pain) and proof.
    board = plan_storyboard("j", _request(prompt=PROMPT, duration_s=duration))
    assert [s.beat for s in board.scenes] == arc
    if "proof" in arc:
        proof = board.scenes[arc.index("proof")]
        assert proof.caption == "Loved by 50,000 customers"
        problem = board.scenes[arc.index("problem")]
        assert problem.caption == "Tired of dull skin?"


def test_beat_plan_without_pain_adds_a_benefit() -> None:
    # The generic arcs by count; no pain → another benefit; proof before the CTA.
    assert beat_plan(2) == ["hook", "cta"] and beat_plan(1) == ["cta"]
    assert beat_plan(4) == ["hook", "solution", "benefit", "cta"]
    assert beat_plan(6, has_pain=False, has_proof=True) == [
        "hook",
        "solution",
        "benefit",
        "benefit",
        "proof",
        "cta",
    ]
    assert beats(5) == ["hook", "problem", "solution", "benefit", "cta"]


def test_long_ads_with_few_claims_use_fewer_longer_scenes() -> None:
    # No filler: two claims and no pain or proof in 60 s → hook, solution, cta.
    request = _request(prompt="Meet Nova Tea. Organic. Calms you in 10 minutes.", duration_s=60)
    board = plan_storyboard("j", request)
    assert [s.beat for s in board.scenes] == ["hook", "solution", "cta"]
    assert _captions(board)[:2] == ["Calms you in 10 minutes", "Organic"]


def test_hook_is_built_from_the_brief() -> None:
    # A claim if there is one, else the pain as a question, else the product.
    assert plan_scenes("j", _request(prompt=PROMPT))[0].caption == (
        "Visibly brighter skin in 7 days"
    )
    question = plan_storyboard("j", _request(prompt="Meet Glow Serum. Tired of dull skin?"))
    assert question.scenes[0].caption == "Tired of dull skin?"
    assert question.variations[0].hook_angle == "question"
    product = plan_storyboard("j", _request(prompt="A video for the Acme Shoes launch"))
    assert product.scenes[0].caption == "Meet Acme Shoes"
    assert product.variations[0].hook_angle == "product"
    assert plan_scenes("j", _request(prompt="great vibes"))[0].caption == "Meet our product"


def test_cta_scene_names_product_cta_and_offer() -> None:
    # The last headline is the call to action; its line adds the product and the offer.
    cta = plan_scenes("j", _request(prompt=PROMPT, call_to_action="Order today"))[-1]
    assert cta.beat == "cta" and cta.caption == "Order today"
    assert cta.script == "Glow Serum. Get 20% off your first order. Order today."


@pytest.mark.parametrize("duration", range(5, 61))
@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": PROMPT, "key_messages": KEY_MESSAGES},
        {"prompt": PROMPT},
        {"prompt": "Meet Nova Tea. Organic. Calms you in 10 minutes. Shop the drop."},
        {"prompt": "great vibes", "product": "Bolt 2"},
    ],
)
def test_no_number_that_is_not_in_the_brief(duration: int, fields: dict[str, object]) -> None:
    # Every number or percentage in any line or headline is one the brief wrote.
    request = _request(duration_s=duration, variations=5, **fields)
    board = plan_storyboard("j", request)
    brief = " ".join(
        [request.prompt, *request.key_messages, request.product or "", request.audience or ""]
    )
    allowed = set(NUMBER.findall(brief))
    texts = [s.script for s in board.scenes] + _captions(board)
    texts += [v.hook + " " + v.hook_script + " " + v.call_to_action for v in board.variations]
    for text in texts:
        assert set(NUMBER.findall(text)) <= allowed, text
    # Headlines stay short unless they are the brief's own claim.
    for scene in board.scenes:
        assert len(scene.caption.split()) <= 8 or scene.caption in KEY_MESSAGES


def test_variations_differ_and_say_what_they_test() -> None:
    # One plan per variation; variation 1 is the storyboard itself, the control.
    board = plan_storyboard("j", _request(prompt=PROMPT, variations=5))
    plans = board.variations
    assert [p.variation for p in plans] == [1, 2, 3, 4, 5]
    assert plans[0].hook == board.scenes[0].caption and plans[0].style == board.style
    assert plans[0].hook_angle == "claim" and "Control" in plans[0].hypothesis
    # Each other variation changes something, and every one says what it tests.
    combos = {(p.hook_angle, p.call_to_action, p.style) for p in plans}
    assert len(combos) == 5
    assert {p.hook_angle for p in plans} == {"claim", "question", "product"}
    assert all(p.hypothesis.endswith(".") and "variation 1" in p.hypothesis for p in plans[1:])
    # A style fixed by the brief is kept by every variation.
    fixed = plan_storyboard("j", _request(prompt=PROMPT, variations=3, style="social"))
    assert {p.style for p in fixed.variations} == {"social"}
    assert len({(p.hook_angle, p.call_to_action) for p in fixed.variations}) == 3


@pytest.mark.parametrize(
    ("tone", "style"),
    [
        ("calm and premium", "clean"),
        ("Playful, young", "social"),
        ("bold", "bold"),
        (None, "bold"),
    ],
)
def test_style_comes_from_the_tone_unless_given(tone: str | None, style: str) -> None:
    # The brand tone picks the look; an explicit style wins.
    assert plan_storyboard("j", _request(brand={"tone": tone})).style == style
    assert plan_storyboard("j", _request(brand={"tone": tone}, style="clean")).style == "clean"


def test_plan_is_deterministic_and_uses_the_brand() -> None:
    # Same brief and job → same storyboard; frames carry the brand and the platform.
    request = _request(call_to_action="Order today", key_messages=["30 hours of battery"])
    board = plan_storyboard("job-1", request)
    assert board == plan_storyboard("job-1", request)
    assert plan_scenes("job-1", request) == board.scenes
    assert board.scenes[0].caption == "30 hours of battery"
    assert board.scenes[-1].caption == "Order today" and "Zephyr Buds" in board.scenes[-1].script
    assert all(
        "#112233" in s.visual_prompt and "bold tone" in s.visual_prompt for s in board.scenes
    )
    assert all("vertical 9:16" in s.visual_prompt for s in board.scenes)


def test_refine_follows_feedback_and_keeps_timing() -> None:
    # Quoted text becomes the headline and the line; the feedback steers the visual prompt.
    request = _request()
    scene = plan_scenes("job-1", request)[1]
    refined = refine_scene("job-1", request, scene, 'More energy, caption "Hear everything"')
    assert refined.caption == "Hear everything" and refined.claim is None
    assert "More energy" in refined.visual_prompt
    assert refined.duration_s == scene.duration_s and refined.index == scene.index
    assert refined.revision == scene.revision + 1
    # Unquoted feedback is added to the line; the headline and its claim stay.
    other = refine_scene("job-1", request, scene, "mention the warranty")
    assert "mention the warranty" in other.script and other.caption == scene.caption
    assert other.claim == scene.claim
