"""What each variation of the ad shows and says, scene by scene, as the renderer makes it
(`services/renderer/rendering.py`): the storyboard's headline and spoken line, except that
a later variation opens on its own hook and closes on its own call-to-action wording, in
its own style; the end card's button carries the variation's call to action.

Preflight reads these instead of the bare storyboard, so a risky word in variation 3's hook
or a call to action too long for the button is found before the render.

Example::

    [(s.scene, s.where, s.text) for s in seen_and_heard(request, storyboard)]
    # [(1, ("headline",), "Brighter skin in 7 days"), (1, ("voice-over",), ...), ...,
    #  (1, ("headline of variation 2",), "Tired of dull skin?"), ...]
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.checks.textfit import Screen
from shared.creative.disclaimers import shows_ai_label
from shared.creative.layout import SceneDesign
from shared.creative.platforms import platform_spec
from shared.creative.styles import style_of
from shared.models import GenerationRequest, Scene, Storyboard, Style, VariationPlan

DEFAULT_CALL_TO_ACTION = "Shop now"  # the renderer's, when neither brief nor plan has one


@dataclass(frozen=True)
class Said:
    """A text a viewer sees or hears in a scene, and where (for the finding's message)."""

    scene: int
    where: tuple[str, ...]  # "headline", "voice-over", "headline of variation 2", ...
    text: str


@dataclass(frozen=True)
class _Shown:
    scene: Scene
    variation: int
    style: Style
    headline: str
    script: str
    call_to_action: str


def _shown(request: GenerationRequest, storyboard: Storyboard) -> list[_Shown]:
    """Every (variation, scene) as rendered: the substitutions of the renderer's spec."""
    first = storyboard.plan_for(1)
    shown = []
    for variation in range(1, request.variations + 1):
        plan: VariationPlan | None = storyboard.plan_for(variation)
        style = plan.style if plan else storyboard.style or style_of(request)
        cta = plan.call_to_action if plan else request.call_to_action or DEFAULT_CALL_TO_ACTION
        for position, scene in enumerate(storyboard.scenes):
            headline, script = scene.caption, scene.script
            if position == 0 and plan is not None and variation > 1:
                headline, script = plan.hook, plan.hook_script
            if scene.beat == "cta" and plan and first and scene.caption == first.call_to_action:
                headline = plan.call_to_action
                script = script.replace(first.call_to_action, plan.call_to_action)
            shown.append(_Shown(scene, variation, style, headline, script, cta))
    return shown


def seen_and_heard(request: GenerationRequest, storyboard: Storyboard) -> list[Said]:
    """Each distinct text per scene: headline, spoken line and the end card's call to
    action; a later variation adds only the texts it changes (its hook, its call to
    action). A scene's `claim` is the brief's claim its headline shows, verbatim: it is
    checked as the headline; one an edit took out of the headline is not drawn (the
    gateway's edit keeps the field), so it is not checked."""
    texts: dict[tuple[int, str], str] = {}
    places: dict[tuple[int, str], list[str]] = {}

    def add(scene: int, text: str, where: str, variation: int) -> None:
        key = (scene, _key(text))
        if not key[1] or (variation > 1 and key in texts):
            return
        texts.setdefault(key, text.strip())
        if where not in places.setdefault(key, []):
            places[key].append(where)

    for shown in _shown(request, storyboard):
        index, variation = shown.scene.index, shown.variation
        suffix = "" if variation == 1 else f" of variation {variation}"
        end_card = _is_end_card(shown.scene)
        # The end card shows its headline only when it says more than the button.
        if not end_card or _key(shown.headline) != _key(shown.call_to_action):
            add(index, shown.headline, f"headline{suffix}", variation)
        add(index, shown.script, f"voice-over{suffix}", variation)
        if end_card:
            add(index, shown.call_to_action, f"call to action{suffix}", variation)
    return [Said(key[0], tuple(places[key]), text) for key, text in texts.items()]


def on_screen_lines(said: Said) -> tuple[str, ...]:
    """The places of `said` that are large on-screen text (headlines, the button)."""
    return tuple(w for w in said.where if w.startswith(("headline", "call to action")))


def screens(request: GenerationRequest, storyboard: Storyboard) -> list[Screen]:
    """Each scene of each variation as the design system lays it out, at the platform's
    real frame size. The product is assumed in the picture when the brief names any
    asset (a pure check cannot open it to see whether it is an image); brand fonts are
    not read (see `shared.checks.textfit`)."""
    platform = request.platform.value
    size = platform_spec(platform).size
    # Model-made pictures (the replicate path) are stored as each scene's plate.
    generative = any(scene.plate_key for scene in storyboard.scenes)
    ai_label = shows_ai_label(platform, request.brand.ai_label, generative)
    found = []
    for shown in _shown(request, storyboard):
        scene = shown.scene
        beat = scene.beat.strip().lower() or "solution"
        design = SceneDesign(
            size=size,
            platform=platform,
            style=shown.style,
            beat=beat,
            headline=shown.headline,
            has_product=bool(request.assets) and beat != "problem" and not scene.clip_asset_id,
            has_logo=request.brand.logo_asset_id is not None,
            call_to_action=shown.call_to_action,
            disclaimers=tuple(scene.disclaimers),
            ai_label=ai_label,
        )
        found.append(Screen(scene.index, shown.variation, design))
    return found


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _is_end_card(scene: Scene) -> bool:
    return scene.beat.strip().lower() == "cta"
