"""Preflight, driven directly: storyboards from the real local planner, edited the way a
client edits them (a risky claim, a banned word, a missing or fleeting disclaimer, a
headline too long for its platform or its box, 70 s on a 60 s platform), each found at
its scene with its severity; the planner's own storyboard for a normal brief passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.checks.claims import CLAIMS_FILE, find_claims, find_phrases, load_claim_rules
from shared.checks.findings import Finding, PreflightReport
from shared.checks.preflight import preflight
from shared.creative.layout import SceneDesign, scene_layout
from shared.creative.typography import MAX_LINES
from shared.models import GenerationRequest, Storyboard
from shared.providers.local.planner import plan_storyboard

PROMPT = (
    "Introducing Glow Serum, a vitamin C serum for busy women tired of dull skin. "
    "Visibly brighter skin in 7 days. 98% saw smoother skin. Vegan and cruelty-free. "
    "Loved by 50,000 customers. Get 20% off your first order."
)
KEY_MESSAGES = ["Brighter skin in 7 days", "98% saw smoother skin", "Zero parabens, zero fuss"]
DISCLAIMER = "Results vary. Not intended to diagnose, treat or prevent any disease."


def _request(**fields: Any) -> GenerationRequest:
    values: dict[str, Any] = {
        "campaign_id": "spring-launch",
        "prompt": PROMPT,
        "key_messages": KEY_MESSAGES,
        "platform": "tiktok",
        "duration_s": 30,
        "brand": {"colors": ["#ff3366", "#1a1a2e"], "tone": "playful"},
    }
    values.update(fields)
    return GenerationRequest.model_validate(values)


def _planned(request: GenerationRequest) -> Storyboard:
    """The local planner's storyboard (it places the brand's disclaimers itself)."""
    return plan_storyboard("job-1", request)


def _edited(board: Storyboard, index: int, **fields: Any) -> Storyboard:
    """`board` with scene `index` changed, as a client's PATCH changes it."""
    scenes = [s.model_copy(update=fields) if s.index == index else s for s in board.scenes]
    return board.model_copy(update={"scenes": scenes})


def _only(report: PreflightReport, check: str) -> Finding:
    found = [f for f in report.findings if f.check == check]
    assert len(found) == 1, report.findings
    return found[0]


def test_the_planners_storyboard_for_a_normal_brief_passes() -> None:
    # A plain brief, planned by the local engine: nothing to report.
    request = _request()
    report = preflight(request, _planned(request))
    assert report.status == "pass" and report.findings == [], report.findings


@pytest.mark.parametrize(
    "platform", ["tiktok", "instagram_reel", "youtube_short", "instagram_feed", "youtube"]
)
@pytest.mark.parametrize("duration", [6, 15, 60])
def test_the_planner_passes_on_every_platform_and_length(platform: str, duration: int) -> None:
    # Three variations (three styles, hooks and calls to action), a product picture, a
    # logo and a disclaimer placed on the closing scenes: every rule is exercised.
    request = _request(
        platform=platform,
        duration_s=duration,
        variations=3,
        assets=["product-1"],
        brand={
            "colors": ["#ff3366"],
            "tone": "playful",
            "logo_asset_id": "logo-1",
            "disclaimers": ["Results vary."],
        },
    )
    report = preflight(request, _planned(request))
    assert report.findings == [], report.findings


def test_a_guaranteed_cure_is_an_error_at_its_scene() -> None:
    # The client rewrites scene 3 with a cure promise, on screen and spoken.
    board = _edited(
        _planned(_request()),
        3,
        caption="The guaranteed cure",
        script="Glow Serum: the guaranteed cure for dull skin.",
    )
    report = preflight(_request(), board)
    # One finding for the phrase (not a second one for "guaranteed" inside it), at scene 3.
    finding = _only(report, "claims.medical")
    assert (finding.scene, finding.severity) == (3, "error")
    assert finding.message.startswith('The headline and voice-over say "guaranteed cure".')
    assert not [f for f in report.findings if f.check == "claims.guarantee"]
    assert report.status == "fail" and report.errors == [finding]


def test_superlatives_warn_as_whole_words_only() -> None:
    # "#1" and "best" are superlatives; "bestseller" is not "best".
    board = _edited(_planned(_request()), 2, caption="The #1 serum", script="Our bestseller.")
    report = preflight(_request(), board)
    finding = _only(report, "claims.absolute")
    assert (finding.scene, finding.severity) == (2, "warning")
    assert finding.message.startswith('The headline says "#1".')
    assert report.status == "warn"
    assert find_phrases(["best"], "Our bestseller, best-selling") == ["best"]


def test_a_banned_word_is_an_error_naming_it_and_its_scene() -> None:
    request = _request(brand={"banned_words": ["cheap"], "colors": ["#ff3366"]})
    board = _edited(_planned(request), 2, script="Cheap-looking skin? Not any more.")
    report = preflight(request, board)
    finding = _only(report, "brand.banned_word")
    assert (finding.scene, finding.severity) == (2, "error")
    assert finding.message.startswith('The voice-over says "cheap", which the brand kit bans.')


def test_a_health_claim_without_a_disclaimer_is_an_error() -> None:
    # A health claim and no legal line in the brand kit: blocked.
    board = _edited(_planned(_request()), 3, caption="Calms anxiety in 7 days")
    finding = _only(preflight(_request(), board), "claims.health")
    assert (finding.scene, finding.severity) == (3, "error")
    assert '"anxiety"' in finding.message and "disclaimer" in finding.message

    # The brand kit's disclaimer, placed on the closing scenes: a reminder only.
    request = _request(brand={"disclaimers": [DISCLAIMER]})
    board = _edited(_planned(request), 3, caption="Calms anxiety in 7 days")
    report = preflight(request, board)
    assert _only(report, "claims.health").severity == "info"
    assert report.status == "pass", report.findings


def test_clinically_proven_needs_a_disclosure() -> None:
    edit = {"caption": "Clinically proven to brighten"}
    bare = preflight(_request(), _edited(_planned(_request()), 2, **edit))
    assert _only(bare, "claims.substantiation").severity == "error"
    request = _request(brand={"disclaimers": ["In a 4-week study of 32 women."]})
    disclosed = preflight(request, _edited(_planned(request), 2, **edit))
    assert _only(disclosed, "claims.substantiation").severity == "info"


def test_a_disclaimer_not_on_screen_is_an_error() -> None:
    # The brand kit gained a disclaimer after the storyboard was made: it shows it nowhere.
    request = _request(brand={"disclaimers": [DISCLAIMER]})
    finding = _only(preflight(request, _planned(_request())), "brand.disclaimer")
    assert (finding.scene, finding.severity) == (None, "error")
    assert "not on screen" in finding.message and "4.7 s" in finding.message


def test_a_disclaimer_on_screen_too_briefly_is_an_error() -> None:
    # 11 words need 11 / 3 + 1 = 4.7 s; an edit leaves it on the last scene for 2 s only.
    request = _request(brand={"disclaimers": [DISCLAIMER]})
    board = _planned(request)
    last = board.scenes[-1]
    assert [s.index for s in board.scenes if s.disclaimers] == [last.index]
    board = _edited(board, last.index, duration_s=2.0)
    finding = _only(preflight(request, board), "brand.disclaimer")
    assert (finding.scene, finding.severity) == (last.index, "error")
    assert "on screen 2.0 s; it needs 4.7 s to be read" in finding.message


def test_a_headline_too_long_for_its_platform_is_an_error() -> None:
    caption = "Brighter, smoother and softer skin in just seven days, every day"
    assert len(caption) > 60  # TikTok's headline limit (platforms.toml)
    report = preflight(_request(), _edited(_planned(_request()), 4, caption=caption))
    finding = _only(report, "platform.headline_length")
    assert (finding.scene, finding.severity) == (4, "error")
    assert f"has {len(caption)} characters; TikTok shows at most 60" in finding.message


def test_a_headline_too_long_for_its_box_is_an_error() -> None:
    # 53 characters: within TikTok's limit, but five lines at the smallest readable size.
    caption = "Brighter, smoother, softer skin in seven days or less"
    report = preflight(_request(), _edited(_planned(_request()), 2, caption=caption))
    assert not [f for f in report.findings if f.check == "platform.headline_length"]
    finding = _only(report, "text.headline_fit")
    assert (finding.scene, finding.severity) == (2, "error")
    assert "needs 5 lines at the smallest readable size; its box holds 3" in finding.message
    # What preflight reports is what the design system lays out: more lines than fit.
    design = SceneDesign(
        size=(1080, 1920), platform="tiktok", style="social", beat="benefit", headline=caption
    )
    headline = scene_layout(design).headline
    assert headline is not None and len(headline.fitted.lines) > MAX_LINES


def test_a_word_too_wide_to_set_at_the_minimum_is_an_error() -> None:
    caption = "Supercalifragilisticexpialidocious"
    finding = _only(
        preflight(_request(), _edited(_planned(_request()), 2, caption=caption)),
        "text.headline_fit",
    )
    assert finding.scene == 2 and f'("{caption}")' in finding.message
    assert "shrunk to" in finding.message


def test_a_call_to_action_too_long_for_the_button_is_an_error() -> None:
    request = _request(
        call_to_action="Shop the Glow Serum collection today and save twenty percent"
    )
    board = _planned(request)
    end_card = board.scenes[-1]
    finding = _only(preflight(request, board), "text.button_fit")
    assert (finding.scene, finding.severity) == (end_card.index, "error")
    assert "needs 6 lines at the smallest readable size; its box holds 2" in finding.message


def test_a_storyboard_edited_to_70_s_is_an_error() -> None:
    board = _planned(_request(duration_s=60))
    last = board.scenes[-1]
    board = _edited(board, last.index, duration_s=last.duration_s + 10)
    assert board.duration_s == 70
    finding = _only(preflight(_request(duration_s=60), board), "platform.duration")
    assert (finding.scene, finding.severity) == (None, "error")
    assert "runs 70.0 s; TikTok takes 5–60 s" in finding.message
    assert "cut 10.0 s" in finding.message


def test_a_storyboard_edited_to_another_length_within_limits_is_noted() -> None:
    board = _edited(_planned(_request()), 1, duration_s=8.0)
    finding = _only(preflight(_request(), board), "storyboard.duration")
    assert finding.severity == "info" and "the brief asked for 30 s" in finding.message


def test_each_variations_hook_is_checked() -> None:
    # Variation 2 opens on its own hook: a risky word there is found at scene 1.
    request = _request(variations=2)
    board = _planned(request)
    plans = [
        p.model_copy(update={"hook": "The best serum ever"}) if p.variation == 2 else p
        for p in board.variations
    ]
    report = preflight(request, board.model_copy(update={"variations": plans}))
    finding = _only(report, "claims.absolute")
    assert finding.scene == 1
    assert finding.message.startswith('The headline of variation 2 says "best".')

    # A scene every variation shows alike is reported once, as the storyboard's.
    board = _edited(board, 2, caption="Money-back guarantee", claim="Money-back guarantee")
    finding = _only(preflight(request, board), "claims.guarantee")
    assert finding.scene == 2
    assert finding.message.startswith('The headline says "Money-back" and "guarantee".')


def test_a_claim_an_edit_took_off_screen_is_not_checked() -> None:
    # The client rewrote the headline; the scene's `claim` field still holds the old words,
    # which nobody sees or hears any more.
    board = _planned(_request())
    board = _edited(board, 2, caption="A promise we keep", claim="The guaranteed cure")
    assert preflight(_request(), board).findings == []


def test_the_report_is_ordered_and_deterministic() -> None:
    # Several problems in several scenes: storyboard-wide first, then by scene and check.
    request = _request(brand={"banned_words": ["glow"], "disclaimers": [DISCLAIMER]})
    board = _edited(_planned(_request()), 3, caption="The guaranteed cure, best of all")
    first, second = preflight(request, board), preflight(request, board)
    assert first == second and first.checked_at is None
    keys = [(f.scene or 0, f.check) for f in first.findings]
    assert keys == sorted(keys)
    assert {f.check for f in first.findings} >= {
        "brand.disclaimer",
        "brand.banned_word",
        "claims.medical",
        "claims.absolute",
    }


def test_severity_is_data(tmp_path: Path) -> None:
    # A reviewer lowers "best" to info in a copy of the rules: the match says so.
    text = CLAIMS_FILE.read_text()
    old = 'check = "claims.absolute"\nseverity = "warning"'
    assert old in text
    copy = tmp_path / "claims.toml"
    copy.write_text(text.replace(old, 'check = "claims.absolute"\nseverity = "info"'))
    (match,) = find_claims(load_claim_rules(copy), "The best serum")
    assert match.rule.severity_for(disclosed=False) == "info"


def test_unusable_rules_are_refused_naming_the_problem(tmp_path: Path) -> None:
    copy = tmp_path / "claims.toml"
    copy.write_text('version = "x"\n[wording.a]\ncheck = "claims.a"\nseverity = "fatal"\n')
    with pytest.raises(ValueError, match=r"claims\.toml") as refused:
        load_claim_rules(copy)
    assert "wording.a.severity" in str(refused.value) and "phrases" in str(refused.value)
