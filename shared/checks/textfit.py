"""Whether each headline (and the end card's call to action) fits its box at the smallest
readable size: laid out by the design system itself (`shared.creative.layout`), so what
is checked is what the storyboard frames and the renderer draw.

A headline fails when, at the minimum readable size (`min_headline_cap`), it needs more
lines than its box holds, when a word wider than the line would be shrunk below that
size, or when its lines run into the small print, the captions or the button below.

Brand fonts: a brand's font file (`brand.font_asset_id`) is in storage, which this pure
check does not read; headlines are set in the style's own face (DejaVu Sans Bold or
Condensed Bold). A brand face much wider than ours can still overflow where ours fits;
the QC of the rendered file measures the drawn text.

Example::

    screen = Screen(scene=2, variation=1, design=SceneDesign(...))
    fit_findings([screen], variations=1)     # [Finding(check="text.headline_fit", ...)]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from shared.checks.findings import Finding
from shared.creative.layout import SceneDesign, SceneLayout, TextBlock, scene_layout
from shared.creative.typography import (
    MAX_LINES,
    FittedText,
    fits_readably,
    load_font,
    min_headline_cap,
    size_for_cap,
    text_width,
)

BUTTON_MAX_LINES = 2  # the end card's button takes one line, two when the label needs it
# The smallest the layout sets a button label (two lines on a wide frame: 95% of the
# headline minimum, `layout._end_card`); smaller means a word was shrunk to fit.
BUTTON_MIN_CAP_SHARE = 0.95


@dataclass(frozen=True)
class Screen:
    """One scene as one variation shows it (the design the renderer builds for it)."""

    scene: int
    variation: int
    design: SceneDesign


@dataclass(frozen=True)
class _Misfit:
    check: str
    subject: str  # 'The headline "..."'
    problem: str  # what is wrong and what to do


def fit_findings(screens: Iterable[Screen], variations: int) -> list[Finding]:
    """A finding per scene and text that does not fit (naming the variations when the
    ad has several and not all of them are affected)."""
    hits: dict[tuple[int, str, str], tuple[_Misfit, list[int]]] = {}
    for screen in screens:
        for misfit in _misfits(screen.design):
            key = (screen.scene, misfit.check, f"{misfit.subject} {misfit.problem}")
            hits.setdefault(key, (misfit, []))[1].append(screen.variation)
    findings = []
    for (scene, _, _), (misfit, affected) in hits.items():
        where = ""
        if variations > 1 and len(set(affected)) < variations:
            where = f" (variation {_numbers(sorted(set(affected)))})"
        findings.append(
            Finding(
                check=misfit.check,
                severity="error",
                scene=scene,
                message=f"{misfit.subject}{where} {misfit.problem}",
            )
        )
    return findings


@lru_cache(maxsize=2048)
def _misfits(design: SceneDesign) -> tuple[_Misfit, ...]:
    # Cached: preflight runs again after every edit, and most scenes are unchanged.
    layout = scene_layout(design)
    found = []
    if layout.headline is not None and design.headline.strip():
        found.extend(_headline(design, layout, layout.headline))
    if layout.button_text is not None:
        found.extend(_button(design, layout.button_text))
    return tuple(found)


def _headline(design: SceneDesign, layout: SceneLayout, block: TextBlock) -> list[_Misfit]:
    fitted = block.fitted
    minimum = size_for_cap(min_headline_cap(design.size), fitted.face, None)
    text = design.headline.strip()
    if not fits_readably(fitted, minimum):
        return [_too_big("text.headline_fit", "headline", text, fitted, minimum, MAX_LINES)]
    # The layout may set a short headline larger than the minimum; only a headline that
    # would still reach what is below it at the minimum is too long (the block shrinks
    # in proportion to the type, a little less for its panels' padding).
    below, name = _what_is_below(layout)
    top, bottom = block.box[1], block.box[3]
    if top + (bottom - top) * minimum / fitted.font_px > below:
        return [
            _Misfit(
                "text.headline_fit",
                f'The headline "{text}"',
                f"runs into the {name} below it, even at the smallest readable size. Shorten it.",
            )
        ]
    return []


def _what_is_below(layout: SceneLayout) -> tuple[int, str]:
    if layout.button is not None:
        return layout.button[1], "call-to-action button"
    if layout.legal is not None:
        return layout.legal.box[1], "disclaimer"
    return layout.captions[1], "captions"


def _button(design: SceneDesign, block: TextBlock) -> list[_Misfit]:
    fitted = block.fitted
    cap = min_headline_cap(design.size) * BUTTON_MIN_CAP_SHARE
    floor = size_for_cap(cap, fitted.face, None)
    if fits_readably(fitted, floor, BUTTON_MAX_LINES):
        return []
    label = design.call_to_action or design.headline
    return [_too_big("text.button_fit", "call to action", label, fitted, floor, BUTTON_MAX_LINES)]


def _too_big(
    check: str, what: str, text: str, fitted: FittedText, minimum: int, max_lines: int
) -> _Misfit:
    if fitted.font_px < minimum:
        font = load_font(minimum, fitted.face)
        word = max(text.split(), key=lambda w: text_width(font, w))
        return _Misfit(
            check,
            f'The {what} "{text}"',
            f'has a word too wide for the frame ("{word}"): it would be shrunk to '
            f"{100 * fitted.font_px // minimum}% of the smallest readable size. Use a "
            "shorter word or split it.",
        )
    lines = len(fitted.lines)
    return _Misfit(
        check,
        f'The {what} "{text}"',
        f"needs {lines} lines at the smallest readable size; its box holds {max_lines}. "
        f"Shorten it to about {len(text) * max_lines // lines} characters.",
    )


def _numbers(values: list[int]) -> str:
    if len(values) == 1:
        return str(values[0])
    return ", ".join(map(str, values[:-1])) + f" and {values[-1]}"


def headline_fits(design: SceneDesign) -> bool:
    """Whether `design`'s headline fits its box at the smallest readable size."""
    return not any(misfit.check == "text.headline_fit" for misfit in _misfits(design))
