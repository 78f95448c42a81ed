"""Scene planning for the offline engine: an ad grounded in its brief, timed to its length.

Every headline and line comes from the brief (`shared.creative.brief`): the hook leads with
the boldest claim (or the pain as a question, or the product), each benefit scene puts one
claim on screen in the brief's own words and numbers, and the call to action closes. The
planner adds only neutral connective words ("Meet", "Plus:", "Ready?"), never a fact.

Pure and deterministic (the same brief and job id give the same storyboard), so a
redelivered request produces the same scenes and the planner is tested directly.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

from shared.creative.brief import (
    BriefFacts,
    as_sentence,
    boldest_claim,
    claim_on,
    extract_facts,
    hook_angle_for,
    hook_line,
    is_certification,
    pain_question,
    plan_variations,
    ranked_claims,
    sentence_case,
    word_count,
)
from shared.creative.disclaimers import place_disclaimers
from shared.creative.headlines import readable_headlines
from shared.creative.styles import style_of
from shared.models import PLATFORM_SIZE, GenerationRequest, HookAngle, Scene, Storyboard

MIN_SCENE_S = 3.0
MAX_SCENE_S = 6.0
TARGET_SCENE_S = 4.5
FLOOR_SCENE_S = 1.5  # no scene is shorter, however short the ad
CTA_MIN_S = 3.0  # reading time for the call to action, when the total allows it
HEADLINE_WORDS = 8

# The hook must land fast, the call to action needs reading time.
BEAT_WEIGHT = {
    "hook": 0.85,
    "problem": 1.0,
    "solution": 1.0,
    "benefit": 1.0,
    "proof": 1.0,
    "cta": 1.15,
}
BENEFIT_LEADS = ("", "Plus: ", "Here's the thing: ")
SHOT = {
    "hook": "bold close-up that grabs attention in the first second",
    "problem": "relatable everyday moment showing the frustration",
    "solution": "hero shot of the product, clean studio light",
    "benefit": "lifestyle shot of a happy customer enjoying the result",
    "proof": "real customer moment that feels trustworthy and reviewed",
    "cta": "end card with the product and the call to action",
}
ASPECT = {(1080, 1920): "vertical 9:16", (1080, 1080): "square 1:1", (1920, 1080): "wide 16:9"}


@dataclass(frozen=True)
class Slot:
    """One planned scene before timing: its beat, headline, line and the claim it shows."""

    beat: str
    caption: str
    script: str
    claim: str | None = None


# --------------------------------------------------------------------------- timing


def scene_count(duration_s: float) -> int:
    """How many scenes an ad of `duration_s` is planned with (before the brief runs out of
    claims): 2 up to 7 s, 3 up to 12 s, 4 up to 17 s, then about 4.5 s a scene."""
    if duration_s < 3 * FLOOR_SCENE_S:
        return 1
    if duration_s < 8:
        return 2
    if duration_s < 13:
        return 3
    if duration_s < 18:
        return 4
    lowest = math.ceil(duration_s / MAX_SCENE_S)
    highest = math.floor(duration_s / MIN_SCENE_S)
    return min(highest, max(5, lowest, round(duration_s / TARGET_SCENE_S)))


def beat_plan(count: int, has_pain: bool = True, has_proof: bool = False) -> list[str]:
    """The arc for `count` scenes: hook → (problem) → solution → benefits → (proof) → cta.
    Short ads drop the problem: a 15 s ad is hook, solution, benefit, cta."""
    short = {1: ["cta"], 2: ["hook", "cta"], 3: ["hook", "benefit", "cta"]}
    if count in short:
        return short[count]
    if count == 4:
        return ["hook", "solution", "benefit", "cta"]
    problem = ["problem"] if has_pain else []
    proof = ["proof"] if has_proof else []
    benefits = max(0, count - 3 - len(problem) - len(proof))
    return ["hook", *problem, "solution", *["benefit"] * benefits, *proof, "cta"][:count]


def beats(count: int) -> list[str]:
    """The arc for `count` scenes of a brief with a pain and no proof point."""
    return beat_plan(count)


def durations(arc: list[str], total_s: float) -> list[float]:
    """Per-scene durations in tenths of a second that sum exactly to `total_s`, weighted
    by beat: 3-6 s whenever the total allows it, the call to action at least 3 s, no scene
    under 1.5 s."""
    tenths = round(total_s * 10)
    if len(arc) <= 1:
        return [tenths / 10] * len(arc)
    count = len(arc)
    floor = round(FLOOR_SCENE_S * 10) if round(FLOOR_SCENE_S * 10) * count <= tenths else 1
    base_low = round(MIN_SCENE_S * 10) if round(MIN_SCENE_S * 10) * count <= tenths else floor
    cta_low = round(CTA_MIN_S * 10)
    lows = [
        cta_low if beat == "cta" and tenths - cta_low >= base_low * (count - 1) else base_low
        for beat in arc
    ]
    lows = [max(low, base_low) for low in lows]
    high = round(MAX_SCENE_S * 10) if round(MAX_SCENE_S * 10) * count >= tenths else tenths
    weights = [BEAT_WEIGHT.get(beat, 1.0) for beat in arc]
    raw = [tenths * w / sum(weights) for w in weights]
    parts = [min(high, max(lows[i], math.floor(r))) for i, r in enumerate(raw)]
    # Hand the leftover tenths out one at a time (largest remainder first) to scenes that
    # still have room, so the sum is exact and no scene leaves its range.
    order = sorted(range(count), key=lambda i: raw[i] - parts[i], reverse=True)
    while (gap := tenths - sum(parts)) != 0:
        step, moved = (1 if gap > 0 else -1), False
        for i in order if gap > 0 else order[::-1]:
            if gap != 0 and lows[i] <= parts[i] + step <= high:
                parts[i] += step
                gap -= step
                moved = True
        if not moved:
            break  # unreachable: sum(lows) <= tenths <= high * count
    return [p / 10 for p in parts]


# --------------------------------------------------------------------------- lines


def _pick(options: tuple[str, ...], *seed_parts: object) -> str:
    digest = hashlib.sha256("|".join(map(str, seed_parts)).encode()).digest()
    return options[digest[0] % len(options)]


def _solution(facts: BriefFacts, claim: str, angle: HookAngle) -> Slot:
    if facts.product is None:
        script = as_sentence(claim)
    elif angle == "product":  # the hook already said "Meet ..."
        script = f"{facts.product}: {as_sentence(claim)}"
    else:
        script = f"Meet {facts.product}. {as_sentence(claim)}"
    return Slot("solution", claim, script, claim)


def _benefit(claim: str, job_id: str, index: int) -> Slot:
    lead = _pick(BENEFIT_LEADS, job_id, index)
    return Slot("benefit", claim, f"{lead}{as_sentence(claim)}", claim)


def _reveal(product: str) -> Slot:
    return Slot("solution", product, f"Meet {product}.")


def _cta(facts: BriefFacts) -> Slot:
    cta = facts.call_to_action
    parts = [as_sentence(facts.product)] if facts.product else []
    if facts.offer:
        parts += [as_sentence(sentence_case(facts.offer)), as_sentence(cta)]
    elif facts.product and facts.product.lower() not in cta.lower():
        parts = [as_sentence(facts.product), f"Ready? {as_sentence(cta)}"]
    else:
        parts = [f"Ready? {as_sentence(cta)}"]
    return Slot("cta", cta, " ".join(parts))


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Layout:
    count: int
    problem: bool
    proof: str | None
    body_claims: list[str]
    left_out: list[str]


def _layout(duration_s: float, facts: BriefFacts, angle: HookAngle) -> _Layout:
    """How many scenes, which optional beats, which claims make it on screen. Key
    messages win over the problem and proof beats: scenes are added (down to 3 s each),
    then the proof, then the problem dropped to fit them."""
    ranked = ranked_claims(facts)
    pool = ranked[1:] if angle == "claim" else ranked
    count = scene_count(duration_s)
    if count <= 4:
        slots = max(0, count - 2)
        return _Layout(count, False, None, pool[:slots], pool[slots:])
    problem = facts.pain is not None and angle != "question"
    # Social proof ("loved by", reviews) before a test certificate, which reads as a claim.
    proofs = [p for p in facts.proof if p not in ranked[:1]]
    proof = next((p for p in proofs if not is_certification(p)), proofs[0] if proofs else None)
    slots = count - 2 - problem - (proof is not None)
    keys = [c for c in pool if c in facts.key_messages and c != proof]
    most = math.floor(duration_s / MIN_SCENE_S)
    while len(keys) > slots:
        if count < most:
            count += 1
        elif proof is not None:
            proof = None
        elif problem:
            problem = False
        else:
            break
        slots += 1
    body = [c for c in pool if c != proof]
    return _Layout(count, problem, proof, body[:slots], body[slots:])


def _slots(job_id: str, facts: BriefFacts, angle: HookAngle, layout: _Layout) -> list[Slot]:
    hook_caption, hook_script = hook_line(facts, angle)
    hook_claim = boldest_claim(facts) if angle == "claim" else None
    slots = [Slot("hook", hook_caption, hook_script, hook_claim)]
    if layout.problem and facts.pain:
        question = pain_question(facts.pain)
        slots.append(Slot("problem", question, question))
    body: list[Slot] = []
    for position, claim in enumerate(layout.body_claims):
        # An ad of 8-12 s has room for one benefit only; longer ones open on the solution.
        if position == 0 and layout.count != 3:
            body.append(_solution(facts, claim, angle))
        else:
            body.append(_benefit(claim, job_id, len(slots) + len(body) + 1))
    if not body and facts.product and angle != "product" and layout.count > 2:
        body.append(_reveal(facts.product))
    slots += body
    if layout.proof:
        line = as_sentence(sentence_case(layout.proof))
        slots.append(Slot("proof", layout.proof, line, claim_on(layout.proof, facts.claims)))
    slots.append(_cta(facts))
    return slots


def visual_prompt(request: GenerationRequest, facts: BriefFacts, beat: str, extra: str = "") -> str:
    brand = request.brand
    size = PLATFORM_SIZE[request.platform]
    colours = ", ".join(brand.colors) if brand.colors else "a warm modern palette"
    parts = [
        f"{ASPECT.get(size, 'video')} ad frame",
        SHOT.get(beat, SHOT["solution"]),
        f"featuring {facts.product or 'the product'}",
        f"brand colours {colours}",
        f"{brand.tone or 'confident'} tone",
    ]
    if extra:
        parts.append(extra)
    return "; ".join(parts)


def plan_storyboard(job_id: str, request: GenerationRequest) -> Storyboard:
    """The storyboard for a brief: scenes grounded in its claims (the brand's legal lines
    placed where they can be read), what did not fit, the style, and what each variation
    tests."""
    facts = extract_facts(request)
    angle = hook_angle_for(facts)
    layout = _layout(request.duration_s, facts, angle)
    slots = _slots(job_id, facts, angle, layout)
    lengths = durations([slot.beat for slot in slots], request.duration_s)
    scenes = [
        Scene(
            index=index,
            beat=slot.beat,
            script=slot.script,
            caption=slot.caption,
            claim=slot.claim,
            visual_prompt=visual_prompt(request, facts, slot.beat),
            duration_s=seconds,
        )
        for index, (slot, seconds) in enumerate(zip(slots, lengths, strict=True), 1)
    ]
    hook = scenes[0]
    planned = Storyboard(
        scenes=place_disclaimers(scenes, request.brand.disclaimers),
        style=style_of(request),
        claims_left_out=layout.left_out,
        variations=plan_variations(request, facts, angle, hook.caption, hook.script),
    )
    return readable_headlines(request, planned)


def plan_scenes(job_id: str, request: GenerationRequest) -> list[Scene]:
    """The storyboard's scenes (for callers that only need those)."""
    return plan_storyboard(job_id, request).scenes


def _words(text: str, limit: int) -> str:
    words = text.split()
    return " ".join(words[:limit]) + ("…" if len(words) > limit else "")


def refine_scene(job_id: str, request: GenerationRequest, scene: Scene, feedback: str) -> Scene:
    """Rewrite one scene after client feedback: quoted text becomes the headline (and the
    line), other feedback is added to the line and steers the visual prompt; timing and
    the legal lines placed on the scene kept."""
    facts = extract_facts(request)
    quoted = re.findall(r"[\"“']([^\"”']{2,80})[\"”']", feedback)
    if quoted:
        caption = quoted[0] if word_count(quoted[0]) <= HEADLINE_WORDS else _words(quoted[0], 8)
        script = as_sentence(quoted[0])
    else:
        caption = scene.caption
        script = f"{scene.script} {as_sentence(_words(feedback.strip().rstrip('.'), 20))}"
    return scene.model_copy(
        update={
            "script": script,
            "caption": caption,
            "claim": claim_on(caption, facts.claims),
            "visual_prompt": visual_prompt(
                request, facts, scene.beat or "solution", f"direction: {feedback}"
            ),
            "revision": scene.revision + 1,
        }
    )
