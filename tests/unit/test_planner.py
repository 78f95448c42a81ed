"""Scene planning of the local engine: timing, arc, determinism, refinement."""

from __future__ import annotations

import pytest

from shared.models import GenerationRequest
from shared.providers.local.planner import beats, durations, plan_scenes, refine_scene, scene_count


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


@pytest.mark.parametrize("duration", range(5, 61))
def test_durations_sum_exactly_and_stay_in_range(duration: int) -> None:
    # Every allowed length splits into scenes of 3-6 s (one scene below 6 s) summing exactly.
    parts = durations(beats(scene_count(duration)), duration)
    assert abs(sum(parts) - duration) < 1e-9
    if duration >= 6:
        assert all(3 <= p <= 6 for p in parts), parts


def test_arc_runs_hook_to_call_to_action() -> None:
    # Longer ads insert benefits between solution and call to action.
    assert beats(4) == ["hook", "problem", "solution", "cta"]
    assert beats(7) == ["hook", "problem", "solution", "benefit", "benefit", "benefit", "cta"]
    assert beats(1) == ["cta"] and beats(2) == ["hook", "cta"]


def test_plan_uses_the_brief_and_is_deterministic() -> None:
    # Same brief and job → same scenes; they name the product, messages and brand.
    request = _request(call_to_action="Order today", key_messages=["30 hours of battery"])
    scenes = plan_scenes("job-1", request)
    assert scenes == plan_scenes("job-1", request)
    assert "Zephyr Buds" in scenes[0].caption
    assert scenes[-1].caption == "Order today"
    assert any("30 hours of battery" in s.script for s in scenes)
    assert all("#112233" in s.visual_prompt and "bold tone" in s.visual_prompt for s in scenes)
    assert all("vertical 9:16" in s.visual_prompt for s in scenes)


def test_product_is_found_in_free_text() -> None:
    # Without a product field the planner finds it in the prompt, or stays generic.
    assert (
        "Acme Shoes"
        in plan_scenes("j", _request(prompt="A video for the Acme Shoes sale"))[0].caption
    )
    assert plan_scenes("j", _request(prompt="great vibes"))[0].caption == "Meet our product"


def test_refine_follows_feedback_and_keeps_timing() -> None:
    # Quoted text becomes the caption; the feedback steers the visual prompt.
    request = _request()
    scene = plan_scenes("job-1", request)[1]
    refined = refine_scene("job-1", request, scene, 'More energy, caption "Hear everything"')
    assert refined.caption == "Hear everything"
    assert "More energy" in refined.visual_prompt
    assert refined.duration_s == scene.duration_s and refined.index == scene.index
    assert refined.revision == scene.revision + 1
    # Unquoted feedback rewrites the script line.
    other = refine_scene("job-1", request, scene, "mention the warranty")
    assert "mention the warranty" in other.script and other.caption == scene.caption
