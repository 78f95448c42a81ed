"""The script from an LLM's answer: strict parse, one repair, validation, normalised
durations; what the backend does with a bad answer is in the integration tests."""

from __future__ import annotations

import json

import pytest

from shared.models import Brand, GenerationRequest, Platform
from shared.providers.replicate.script import (
    ScriptProblem,
    joined_output,
    normalise,
    parse_script,
    reask_prompt,
    repair,
    script_prompt,
    to_scenes,
    to_storyboard,
)

SCENES = {
    "scenes": [
        {
            "script": "Stop scrolling.",
            "caption": "Meet Glow",
            "visual_prompt": "close-up of a bottle",
            "duration_s": 3.5,
        },
        {
            "script": "Dull skin?",
            "caption": "Sound familiar?",
            "visual_prompt": "tired face",
            "duration_s": 4,
        },
        {
            "script": "Glow fixes it.",
            "caption": "Glow Serum",
            "visual_prompt": "hero shot",
            "duration_s": 4.5,
        },
        {
            "script": "Shop now.",
            "caption": "Shop now",
            "visual_prompt": "end card {bottle}",
            "duration_s": 5,
        },
    ]
}
ANSWER = json.dumps(SCENES, indent=2)


def test_a_clean_answer_parses_strictly() -> None:
    answer = parse_script(ANSWER, 15)
    assert [s.caption for s in answer.scenes] == [
        "Meet Glow",
        "Sound familiar?",
        "Glow Serum",
        "Shop now",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "```json\n" + ANSWER + "\n```",
        "Here is your storyboard:\n\n```\n" + ANSWER + "\n```\nWant changes?",
        "Sure! " + ANSWER + " Let me know if you want another tone { or pacing }.",
        ANSWER + "\n\nNote: durations are approximate.",
    ],
)
def test_fences_and_chatter_around_the_json_are_repaired(text: str) -> None:
    # The braces inside strings ("end card {bottle}") do not end the object early.
    assert json.loads(repair(text)) == SCENES
    assert len(parse_script(text, 15).scenes) == 4


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I'd be happy to help! Scene one opens on the product.", "not JSON"),
        ('{"scenes": [{"script": "x", "caption": "y"}]}', "visual_prompt"),
        ('{"scenes": []}', "scenes"),
        (
            '{"scenes": [{"script": " ", "caption": "y", "visual_prompt": "z", "duration_s": 2}]}',
            "script",
        ),
        (
            '{"scenes": [{"script": "x", "caption": "y", "visual_prompt": "z", "duration_s": -1}]}',
            "duration_s",
        ),
    ],
)
def test_unusable_answers_say_why(text: str, reason: str) -> None:
    with pytest.raises(ScriptProblem, match=reason):
        parse_script(text, 15)


def test_too_many_scenes_for_the_length_is_a_problem() -> None:
    scene = {"script": "x", "caption": "y", "visual_prompt": "z", "duration_s": 1}
    with pytest.raises(ScriptProblem, match="do not fit"):
        parse_script(json.dumps({"scenes": [scene] * 9}), 8)


def test_durations_are_normalised_to_the_ad_length() -> None:
    # Already summing to the total: kept as they are.
    assert normalise([3, 5, 5, 5, 4, 8], 30) == [3.0, 5.0, 5.0, 5.0, 4.0, 8.0]
    # Proportional, in tenths, exact sum, never under the minimum.
    lengths = normalise([2.3, 4.4, 1.1, 7.0], 15)
    assert sum(lengths) == pytest.approx(15) and min(lengths) >= 1.0
    assert all(round(x * 10) == x * 10 for x in lengths)
    assert normalise([0.1, 10, 10], 15) == [1.0, 7.0, 7.0]
    with pytest.raises(ValueError):
        normalise([1] * 6, 5)


def test_scenes_get_beats_and_the_normalised_durations() -> None:
    scenes = to_scenes(parse_script(ANSWER, 15), 20)
    assert [s.index for s in scenes] == [1, 2, 3, 4]
    assert scenes[0].beat == "hook" and scenes[-1].beat == "cta"
    assert sum(s.duration_s for s in scenes) == pytest.approx(20)


def test_the_prompt_carries_the_control_lines_and_the_reask_names_the_problem() -> None:
    request = GenerationRequest(
        campaign_id="c",
        prompt="Introducing Glow Serum.",
        platform=Platform.tiktok,
        duration_s=30,
        call_to_action="Shop now",
    )
    system, prompt = script_prompt(request, 7)
    assert "JSON" in system
    assert "scene_count: 7" in prompt.splitlines() and "duration_s: 30" in prompt.splitlines()
    assert "call to action: Shop now" in prompt
    again = reask_prompt(prompt, "oops", "the answer is not JSON")
    assert again.startswith(prompt) and "the answer is not JSON" in again and "oops" in again


def test_llm_output_chunks_are_joined() -> None:
    assert joined_output(["{", '"a"', ": 1}"]) == '{"a": 1}'
    assert joined_output("text") == "text"
    assert joined_output(None) == ""


BRIEF = GenerationRequest(
    campaign_id="c",
    prompt="Introducing Glow Serum for women tired of dull skin. Vegan. Loved by 50,000 customers.",
    platform=Platform.tiktok,
    duration_s=15,
    variations=3,
    key_messages=["Brighter skin in 7 days", "98% saw smoother skin"],
    brand=Brand(tone="playful"),
)


def _answer(*captions: tuple[str, str | None]) -> str:
    scenes = [
        {
            "script": f"{caption}.",
            "caption": caption,
            "claim": claim,
            "visual_prompt": "shot",
            "duration_s": 4,
        }
        for caption, claim in captions
    ]
    return json.dumps({"scenes": scenes})


def test_the_prompt_carries_the_claims_and_the_rules() -> None:
    # The brief's claims are listed strongest first, key messages named as such.
    _, prompt = script_prompt(BRIEF, 4)
    lines = prompt.splitlines()
    assert "key message 1: Brighter skin in 7 days" in lines
    assert "key message 2: 98% saw smoother skin" in lines
    assert "claim 3: Vegan" in lines and "claim 4: Loved by 50,000 customers" in lines
    # The rules: key messages on screen verbatim, nothing invented, hook, beats, headlines.
    assert "Put each key message on screen as a scene's caption, in the brief's own words" in prompt
    assert "Never state a fact, number or promise that is not in the brief." in prompt
    assert "on screen from the first frame" in prompt and "question from the pain" in prompt
    assert "beats: hook, solution, benefit, cta" in lines
    assert "pain: tired of dull skin" in lines and "call to action: Shop now" in lines
    assert "at most 8 words unless it is a key message" in prompt
    assert '"claim":' in prompt
    # Longer ads ask for the problem and proof beats the brief supports.
    _, longer = script_prompt(BRIEF, 6)
    assert "beats: hook, problem, solution, benefit, proof, cta" in longer.splitlines()
    # A brief without claims forbids stating any.
    bare = BRIEF.model_copy(update={"prompt": "Great vibes", "key_messages": []})
    assert "claims: none (state no fact, number or promise at all)" in script_prompt(bare, 2)[1]


def test_the_answer_claim_is_parsed_and_optional() -> None:
    # "claim" is read when present and may be missing or null.
    answer = parse_script(_answer(("Brighter skin in 7 days", "Brighter skin in 7 days")), 15)
    assert answer.scenes[0].claim == "Brighter skin in 7 days"
    assert parse_script(ANSWER, 15).scenes[0].claim is None


def test_to_storyboard_finds_claims_and_what_was_left_out() -> None:
    # The answer's claim is kept when it is the brief's; else the caption is matched.
    text = _answer(
        ("Brighter skin in 7 days", "brighter skin in 7 days."),
        ("Yes: 98% saw smoother skin", None),
        ("Vegan", "Made by elves"),
        ("Shop now", None),
    )
    board = to_storyboard(parse_script(text, 15), BRIEF)
    assert [s.claim for s in board.scenes] == [
        "Brighter skin in 7 days",
        "98% saw smoother skin",
        "Vegan",
        None,
    ]
    assert [s.beat for s in board.scenes] == ["hook", "solution", "benefit", "cta"]
    assert sum(s.duration_s for s in board.scenes) == pytest.approx(15)
    # Claims no caption shows are listed, strongest first.
    assert board.claims_left_out == ["Loved by 50,000 customers"]


def test_to_storyboard_plans_style_and_variations_like_the_local_planner() -> None:
    # Style from the tone; variation 1 is the LLM's own hook, the others test other hooks.
    text = _answer(("Brighter skin in 7 days", None), ("Vegan", None), ("Shop now", None))
    board = to_storyboard(parse_script(text, 15), BRIEF.model_copy(update={"duration_s": 12}))
    assert board.style == "social"
    control, second, third = board.variations
    assert control.hook == "Brighter skin in 7 days" and control.hook_angle == "claim"
    assert "Control" in control.hypothesis
    assert second.hook == "Tired of dull skin?" and second.style == "bold"
    assert third.hook == "Meet Glow Serum" and third.call_to_action == "Try it now"
    assert board.claims_left_out == ["98% saw smoother skin", "Loved by 50,000 customers"]
    # A question hook of the LLM is recognised as such.
    asked = _answer(("Tired of dull skin?", None), ("Shop now", None))
    board = to_storyboard(parse_script(asked, 15), BRIEF)
    assert board.variations[0].hook_angle == "question"
    assert board.variations[1].hook_angle == "claim"
