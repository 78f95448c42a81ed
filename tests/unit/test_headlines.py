"""The planners' own headlines fit their box at the smallest readable size (preflight's
rule), by shortening their words; the brief's key messages stay verbatim."""

from __future__ import annotations

from shared.checks.preflight import preflight
from shared.models import GenerationRequest, Storyboard
from shared.providers.local.planner import plan_storyboard

PROMPT = (
    "Introducing Glow Serum: brighter skin in 7 days. Vegan, cruelty free, and made for"
    " sensitive skin."
)


def _request(**fields: object) -> GenerationRequest:
    brief = {
        "campaign_id": "c",
        "prompt": PROMPT,
        "platform": "tiktok",
        "duration_s": 10,
        "product": "Glow Serum",
        "call_to_action": "Shop now",
        "variations": 3,
        **fields,
    }
    return GenerationRequest.model_validate(brief)


def _planned(prompt: str) -> tuple[GenerationRequest, Storyboard]:
    """A prompt alone (no product field), planned with one variation."""
    request = _request(prompt=prompt, product=None, variations=1)
    return request, plan_storyboard("job", request)


def test_the_planners_long_lines_are_shortened_to_fit_and_still_said_in_full() -> None:
    request = _request()
    storyboard = plan_storyboard("job", request)
    fit = [f for f in preflight(request, storyboard).findings if f.check.startswith("text.")]
    assert fit == []
    hook = storyboard.scenes[0]
    # The gist after the colon, not a sentence cut mid-way; the voice-over says it all.
    assert hook.caption == "Brighter skin in 7 days"
    assert "brighter skin in 7 days" in hook.script.lower()
    assert storyboard.scenes[1].caption == "Vegan, cruelty free"
    assert all(plan.hook for plan in storyboard.variations)


def test_a_wide_frame_keeps_the_whole_line() -> None:
    request = _request(platform="youtube")
    storyboard = plan_storyboard("job", request)
    assert storyboard.scenes[0].caption == "Introducing Glow Serum: brighter skin in 7 days"


def test_key_messages_stay_verbatim_and_preflight_says_when_one_is_too_long() -> None:
    message = "Our serum brightens dull tired skin in seven short days, every single time"
    request = _request(key_messages=[message], variations=1)
    storyboard = plan_storyboard("job", request)
    assert any(scene.caption == message for scene in storyboard.scenes)
    fit = [f for f in preflight(request, storyboard).findings if f.check == "text.headline_fit"]
    assert fit and all(f.severity == "error" for f in fit)


def test_a_shortened_headline_keeps_a_number_with_what_it_counts() -> None:
    # Cut at its "and" rather than after "800": a number never ends a headline without
    # its unit, and the whole line stays in the voice-over.
    request, storyboard = _planned(
        "Our new running shoe that weighs just 180 grams and lasts 800 km."
    )
    hook = storyboard.scenes[0]
    assert hook.caption == "Weighs just 180 grams"
    assert "lasts 800 km" in hook.script
    fit = [f for f in preflight(request, storyboard).findings if f.check.startswith("text.")]
    assert fit == []


def test_a_headline_about_the_thing_is_shortened_to_what_it_does() -> None:
    # "… a coffee maker that is ready in 12 hours" does not fit: the headline is what the
    # maker is said to be, never a cut ending on "that is"; the voice-over says it all.
    _, storyboard = _planned("Ad for Brewly, a cold brew coffee maker that is ready in 12 hours.")
    hook = storyboard.scenes[0]
    assert hook.caption == "Ready in 12 hours"
    assert hook.script == "A cold brew coffee maker that is ready in 12 hours."
    assert not any(
        scene.caption.split()[-1].lower() in {"that", "is", "which", "are"}
        for scene in storyboard.scenes
    )
