"""The brand's legal lines are placed where they can be read: from the end card backwards,
on as many scenes as the reading-speed rule needs; both planners place them the same way,
a refinement keeps them; the AI label follows the platform unless the brand says."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from services.gateway.jobs.commands import apply_edit
from services.renderer.engine import RenderSpec, SceneInput, render_clip, spoken_words
from services.renderer.engine.report import layout_report
from services.renderer.engine.timeline import build_timeline, frame_bounds
from shared.creative.disclaimers import (
    READING_LEAD_S,
    READING_WORDS_PER_S,
    place_disclaimers,
    reading_time_s,
    shows_ai_label,
    time_on_screen_s,
)
from shared.creative.layers import colours_for, fine_print_colours
from shared.creative.palette import contrast_ratio
from shared.models import GenerationRequest, Scene, SceneEdit, StoryboardEdit
from shared.providers.local.planner import plan_storyboard, refine_scene
from shared.providers.replicate.script import parse_script, to_storyboard

SHORT = "Results vary. Not medical advice."  # 5 words: 5 / 3 + 1 = 2.67 s
# 30 words: 11 s, longer than any one scene.
LONG = (
    "Results vary with skin type and daily routine. This product is not "
    "intended to diagnose, treat, cure or prevent any disease. Consult a dermatologist "
    "before use if you are pregnant."
)


def _scenes(*durations: float) -> list[Scene]:
    beats = ["hook", *["benefit"] * (len(durations) - 2), "cta"][: len(durations)]
    return [
        Scene(
            index=i,
            beat=beat,
            script=f"Line {i}.",
            caption=f"Headline {i}",
            visual_prompt="a bottle",
            duration_s=seconds,
        )
        for i, (beat, seconds) in enumerate(zip(beats, durations, strict=True), 1)
    ]


def _request(**fields: object) -> GenerationRequest:
    values: dict[str, object] = {
        "campaign_id": "c",
        "prompt": "Introducing Glow Serum. Brighter skin in 7 days. 98% saw smoother skin.",
        "platform": "tiktok",
        "duration_s": 15,
        "brand": {"colors": ["#112233"], "disclaimers": [SHORT]},
    }
    values.update(fields)
    return GenerationRequest.model_validate(values)


def test_reading_time_is_three_words_a_second_plus_a_second() -> None:
    assert (READING_WORDS_PER_S, READING_LEAD_S) == (3.0, 1.0)
    assert reading_time_s(SHORT) == pytest.approx(5 / 3 + 1)
    assert reading_time_s("Terms apply.") == pytest.approx(2 / 3 + 1)
    assert reading_time_s(LONG) == pytest.approx(30 / 3 + 1)
    assert reading_time_s("   ") == 0.0


def test_a_short_disclaimer_goes_on_the_end_card_only() -> None:
    placed = place_disclaimers(_scenes(4, 4, 3.5), [SHORT])
    assert [s.disclaimers for s in placed] == [[], [], [SHORT]]
    # On screen long enough to read.
    assert time_on_screen_s(placed, SHORT) >= reading_time_s(SHORT)


def test_scenes_are_added_backwards_until_there_is_time_to_read() -> None:
    # A 2 s end card is too short for 2.67 s of reading: the scene before it joins, and
    # none earlier.
    placed = place_disclaimers(_scenes(3, 3, 3, 2), [SHORT])
    assert [bool(s.disclaimers) for s in placed] == [False, False, True, True]
    assert time_on_screen_s(placed, SHORT) == pytest.approx(5)


def test_a_long_disclaimer_takes_several_scenes() -> None:
    placed = place_disclaimers(_scenes(4, 4, 4, 4, 3), [LONG])
    carrying = [s.index for s in placed if s.disclaimers]
    # 11 s of reading: the last three scenes (3 + 4 + 4), contiguous up to the end.
    assert carrying == [3, 4, 5]
    assert time_on_screen_s(placed, LONG) >= reading_time_s(LONG)
    assert time_on_screen_s(placed[1:], LONG) - placed[2].duration_s < reading_time_s(LONG)


def test_a_disclaimer_longer_than_the_ad_is_on_every_scene() -> None:
    placed = place_disclaimers(_scenes(3, 3), [LONG])
    assert all(s.disclaimers == [LONG] for s in placed)
    # Still short of its reading time: preflight's to report, not the placement's to hide.
    assert time_on_screen_s(placed, LONG) < reading_time_s(LONG)


def test_several_disclaimers_are_shown_together_and_timed_together() -> None:
    other = "Terms apply."
    placed = place_disclaimers(_scenes(4, 4, 3), [SHORT, other])
    # Read together: (5 + 2) / 3 + 1 = 3.33 s, more than the 3 s end card.
    assert [s.disclaimers for s in placed] == [[], [SHORT, other], [SHORT, other]]
    for line in (SHORT, other):
        assert time_on_screen_s(placed, line) >= reading_time_s(line)


def test_no_disclaimers_none_placed_and_the_scenes_are_not_changed() -> None:
    scenes = _scenes(4, 4, 3)
    scenes[0] = scenes[0].model_copy(update={"disclaimers": ["stale"]})
    placed = place_disclaimers(scenes, [])
    assert all(s.disclaimers == [] for s in placed)
    assert scenes[0].disclaimers == ["stale"]  # pure: the input is left as it was
    assert [s.duration_s for s in placed] == [4, 4, 3]


def test_the_local_planner_places_them_and_a_refinement_keeps_them() -> None:
    request = _request(brand={"colors": ["#112233"], "disclaimers": [LONG]})
    board = plan_storyboard("job-1", request)
    carrying = [s for s in board.scenes if s.disclaimers]
    assert carrying and carrying[-1] is board.scenes[-1]
    assert time_on_screen_s(board.scenes, LONG) >= reading_time_s(LONG)
    refined = refine_scene("job-1", request, carrying[0], '"Glow in a week"')
    assert refined.caption == "Glow in a week" and refined.disclaimers == [LONG]
    # Without disclaimers in the brand kit, no scene carries one.
    plain = plan_storyboard("job-1", _request(brand={"colors": ["#112233"]}))
    assert all(not s.disclaimers for s in plain.scenes)


def test_an_edit_keeps_the_lines_on_their_scenes() -> None:
    # PATCH /storyboard: a longer end card, and a reorder, keep each scene's lines.
    board = plan_storyboard("job-1", _request())
    last = board.scenes[-1]
    edit = StoryboardEdit(scenes=[SceneEdit(index=last.index, duration_s=5)])
    edited = apply_edit(board, edit)
    assert edited.scenes[-1].disclaimers == [SHORT] and edited.scenes[-1].duration_s == 5
    order = [last.index, *(s.index for s in board.scenes[:-1])]
    moved = apply_edit(board, StoryboardEdit(order=order))
    assert moved.scenes[0].disclaimers == [SHORT]
    assert all(not s.disclaimers for s in moved.scenes[1:])


def test_the_replicate_script_path_places_them_the_same_way() -> None:
    answer = json.dumps(
        {
            "scenes": [
                {"script": f"Line {i}.", "caption": f"Headline {i}",
                 "visual_prompt": "a bottle", "duration_s": 3.75}
                for i in range(4)
            ]
        }
    )  # fmt: skip
    request = _request()
    board = to_storyboard(parse_script(answer, 15), request)
    expected = place_disclaimers(board.scenes, [SHORT])
    assert [s.disclaimers for s in board.scenes] == [s.disclaimers for s in expected]
    assert board.scenes[-1].disclaimers == [SHORT]
    assert time_on_screen_s(board.scenes, SHORT) >= reading_time_s(SHORT)


@pytest.mark.parametrize(
    ("platform", "brand", "shown"),
    [
        ("tiktok", None, True),
        ("instagram_reel", None, True),
        ("youtube_short", None, True),
        ("instagram_feed", None, False),
        ("youtube", None, False),
        ("tiktok", False, False),
        ("youtube", True, True),
    ],
)
def test_the_ai_label_follows_the_platform_unless_the_brand_says(
    platform: str, brand: bool | None, shown: bool
) -> None:
    assert shows_ai_label(platform, brand, generative=True) is shown


def test_local_graphics_are_not_labelled_ai_generated_unless_the_brand_asks() -> None:
    assert shows_ai_label("tiktok", None, generative=False) is False
    assert shows_ai_label("tiktok", True, generative=False) is True


# ------------------------------------------------------------------------------ the engine

Box = tuple[int, int, int, int]


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]


def test_the_engine_shows_the_small_print_where_it_is_placed(tmp_path: Path) -> None:
    # Three scenes; the legal line on the end card only, the AI label on.
    durations = (1.6, 1.4, 3.0)
    scenes = tuple(
        SceneInput(
            index=i, frame_path=None, duration_s=seconds, caption=caption, beat=beat,
            script=f"{caption}.", disclaimers=(SHORT,) if beat == "cta" else (),
        )
        for i, (seconds, caption, beat) in enumerate(
            zip(durations, ("Meet Glow", "Glow in 7 days", "Shop Glow"),
                ("hook", "benefit", "cta"), strict=True), 1
        )
    )  # fmt: skip
    spec = RenderSpec(
        size=(270, 480), scenes=scenes, seed="job-fine-print", colors=("#ff3366", "#1a1a2e"),
        call_to_action="Shop Glow", platform="tiktok", style="bold", ai_label=True,
    )  # fmt: skip
    spec = replace(spec, words=tuple(spoken_words(spec)))
    report = layout_report(spec)
    boxes = report["boxes"]
    legal = [b for b in boxes if b["kind"] == "disclaimer"]
    labels = [b for b in boxes if b["kind"] == "ai_label"]
    # The layout names the legal line on the end card only, the label on every scene.
    assert [(b["scene"], b["text"]) for b in legal] == [(3, SHORT)]
    assert [(b["scene"], b["text"]) for b in labels] == [(1, "AI-generated"), (2, "AI-generated"),
                                                         (3, "AI-generated")]  # fmt: skip
    assert report["scenes"][2]["disclaimers"] == [SHORT]
    x0, y0, x1, y1 = report["safe_zone"]
    for box in [*legal, *labels]:
        bx0, by0, bx1, by1 = box["box"]
        assert x0 <= bx0 < bx1 <= x1 and y0 <= by0 < by1 <= y1, box
        # Nothing else of its scene under it: no headline, caption, button, logo, product.
        for other in boxes:
            if other["scene"] == box["scene"] and other["kind"] not in ("disclaimer", "ai_label"):
                assert not _overlaps(tuple(box["box"]), tuple(other["box"])), (box, other)

    # The end card runs at least its planned time (its cut is never snapped later), which
    # is what the placement timed for reading.
    timeline = build_timeline(spec)
    planned = frame_bounds(list(durations), spec.fps)
    end = timeline.slots[2]
    assert end.frames >= planned[3] - planned[2] >= reading_time_s(SHORT) * spec.fps

    # Decoded, the panels are there: the legal line on every frame of the end card and on
    # no frame before it; the label on every frame.
    panel, ink = fine_print_colours(colours_for("bold", spec.palette))
    assert contrast_ratio(ink, panel) >= 7.0

    def panel_share(frame: np.ndarray, box: list[int]) -> float:
        bx0, by0, bx1, by1 = box
        inner = frame[by0 + 2 : by1 - 2, bx0 + 2 : bx1 - 2].reshape(-1, 3)
        return float((np.abs(inner - np.asarray(panel)).sum(axis=1) < 40).mean())

    for index in (1, 2, 3):
        clip = tmp_path / f"scene_{index}.mp4"
        render_clip(spec, index, clip)
        frames = _decoded(clip)
        assert len(frames) == timeline.slots[index - 1].frames
        for frame in frames:
            # The label's panel (its text aside) on every frame, the legal line's only on
            # the end card's.
            assert panel_share(frame, labels[0]["box"]) > 0.5
            shown = panel_share(frame, legal[0]["box"])
            assert shown > 0.5 if index == 3 else shown < 0.3, (index, shown)
