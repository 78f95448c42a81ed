"""The script from an LLM's answer: strict parse, one repair, validation, normalised
durations; what the backend does with a bad answer is in the integration tests."""

from __future__ import annotations

import json

import pytest

from shared.models import GenerationRequest
from shared.providers.replicate.script import (
    ScriptProblem,
    joined_output,
    normalise,
    parse_script,
    reask_prompt,
    repair,
    script_prompt,
    to_scenes,
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
        platform="tiktok",
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
