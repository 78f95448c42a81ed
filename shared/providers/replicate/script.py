"""The script: what we ask the LLM, and how its answer becomes scenes.

The answer is parsed strictly; when that fails it is repaired once (code fences and text
around the JSON are common with LLMs: the outermost JSON object is kept), validated with
pydantic, and the caller re-asks once with the problem named. Durations are normalised to
sum exactly to the ad's length. Pure functions, tested directly.

Example::

    system, prompt = script_prompt(request, scene_count=6)
    answer = parse_script(llm_text)                 # ScriptProblem if unusable
    scenes = to_scenes(answer, request.duration_s)
    storyboard = to_storyboard(answer, request)     # + claims, left-out claims, variations
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.creative.brief import (
    BriefFacts,
    claim_on,
    contains,
    extract_facts,
    hook_angle_for,
    hook_line,
    normalised,
    plan_variations,
    ranked_claims,
)
from shared.creative.disclaimers import place_disclaimers
from shared.creative.headlines import readable_headlines
from shared.creative.styles import style_of
from shared.models import GenerationRequest, HookAngle, Scene, Storyboard
from shared.providers.local.planner import beat_plan, beats

MIN_SCENE_S = 1.0
# A voice-over reads about 2.5 words a second: more than that and the scene ends mid-line.
WORDS_PER_SECOND = 2.5
MAX_SCENES = 15
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ScriptProblem(ValueError):
    """The LLM's answer is not a usable storyboard; the message says why (for a re-ask)."""


class ScriptScene(BaseModel):
    model_config = ConfigDict(extra="ignore")

    script: Annotated[Text, StringConstraints(max_length=1000)]
    caption: Annotated[Text, StringConstraints(max_length=200)]
    visual_prompt: Annotated[Text, StringConstraints(max_length=2000)]
    duration_s: float = Field(gt=0, le=60)
    claim: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = None


class ScriptAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    scenes: list[ScriptScene] = Field(min_length=1, max_length=MAX_SCENES)


class RefinedScene(BaseModel):
    model_config = ConfigDict(extra="ignore")

    script: Annotated[Text, StringConstraints(max_length=1000)]
    caption: Annotated[Text, StringConstraints(max_length=200)]
    visual_prompt: Annotated[Text, StringConstraints(max_length=2000)]


M = TypeVar("M", bound=BaseModel)

SYSTEM_PROMPT = (
    "You write storyboards for short vertical video ads. Answer with one JSON object and "
    "nothing else: no code fences, no comments, no text before or after it."
)


ANSWER_FORMAT = (
    'Answer format: {"scenes": [{"script": "voice-over line", "caption": "on-screen '
    'headline, at most 8 words unless it is a key message (then verbatim)", "claim": "the '
    'key message or claim this caption shows, verbatim, or null", "visual_prompt": "what the '
    'camera shows, for an image model, no text in the picture", "duration_s": seconds}]}'
)
HEADLINE_WORDS = 8


def _brief_lines(request: GenerationRequest) -> list[str]:
    lines = [f"brief: {request.prompt}", f"platform: {request.platform.value}"]
    if request.product:
        lines.append(f"product: {request.product}")
    if request.audience:
        lines.append(f"audience: {request.audience}")
    if request.key_messages:
        lines.append("key messages: " + "; ".join(request.key_messages))
    if request.call_to_action:
        lines.append(f"call to action: {request.call_to_action}")
    if request.brand.tone:
        lines.append(f"tone: {request.brand.tone}")
    if request.brand.colors:
        lines.append("brand colours: " + ", ".join(request.brand.colors))
    return lines


def _claim_lines(facts: BriefFacts) -> list[str]:
    """The brief's claims, strongest first, one a line: `key message N:` for the client's
    key messages (which must reach the screen), `claim N:` for the prompt's own."""
    if not facts.claims:
        return ["claims: none (state no fact, number or promise at all)"]
    lines = ["claims, strongest first (the only facts the ad may state):"]
    for number, claim in enumerate(ranked_claims(facts), 1):
        label = "key message" if claim in facts.key_messages else "claim"
        lines.append(f"{label} {number}: {claim}")
    return lines


def _rules(facts: BriefFacts, arc: list[str]) -> list[str]:
    hook, _ = hook_line(facts, hook_angle_for(facts))
    return [
        "Rules:",
        "- Put each key message on screen as a scene's caption, in the brief's own words and "
        "numbers, and say it in that scene's script.",
        "- Never state a fact, number or promise that is not in the brief.",
        "- The hook (scene 1) is on screen from the first frame: its caption is the boldest "
        "claim, or a question from the pain, or the product's name "
        f"(suggested: {hook}).",
        f"- Beats, one scene each, in this order: {', '.join(arc)}. Each solution or benefit "
        "scene puts one claim on screen, strongest first; claims that do not fit are left "
        "out. The last scene's caption is the call to action; its script names the product "
        "and the call to action (and the offer, if there is one).",
        f"- A caption (the headline) has at most {HEADLINE_WORDS} words unless it is a key "
        "message, which is kept verbatim.",
        '- "claim" is the key message or claim the scene\'s caption shows, verbatim, or null.',
        f"- A script is spoken during its scene: at most {WORDS_PER_SECOND:g} words per second "
        "of the scene's duration_s (a 4 s scene: 10 words).",
    ]


def script_prompt(request: GenerationRequest, scene_count: int) -> tuple[str, str]:
    """(system prompt, prompt) asking for `scene_count` scenes summing to the duration,
    grounded in the brief's own claims."""
    facts = extract_facts(request)
    arc = beat_plan(scene_count, facts.pain is not None, bool(facts.proof))
    lines = [
        "Write the storyboard of a video ad.",
        *_brief_lines(request),
        f"scene_count: {scene_count}",
        f"duration_s: {request.duration_s}",
        f"beats: {', '.join(arc)}",
        *([f"pain: {facts.pain}"] if facts.pain else []),
        *([f"offer: {facts.offer}"] if facts.offer else []),
        *([] if request.call_to_action else [f"call to action: {facts.call_to_action}"]),
        *_claim_lines(facts),
        *_rules(facts, arc),
        ANSWER_FORMAT,
        f"The durations must add up to {request.duration_s} seconds.",
    ]
    return SYSTEM_PROMPT, "\n".join(lines)


def reask_prompt(prompt: str, answer: str, problem: str) -> str:
    """The same request again, naming what was wrong with the first answer."""
    return (
        f"{prompt}\n\nYour previous answer could not be used: {problem}\n"
        f"Previous answer (first 1500 characters): {answer[:1500]}\n"
        "Answer again with only the JSON object in the format above."
    )


def refine_prompt(
    request: GenerationRequest, scene: Scene, scene_count: int, feedback: str
) -> tuple[str, str]:
    """A one-scene storyboard in the same format: the scene rewritten after feedback."""
    lines = [
        f"Rewrite scene {scene.index} of {scene_count} of a video ad after the client's "
        "feedback. Keep what the feedback does not ask to change.",
        *_brief_lines(request),
        f"current script: {scene.script}",
        f"current caption: {scene.caption}",
        f"current visual prompt: {scene.visual_prompt}",
        f"feedback: {feedback}",
        "scene_count: 1",
        f"duration_s: {scene.duration_s:g}",
        ANSWER_FORMAT,
    ]
    return SYSTEM_PROMPT, "\n".join(lines)


def repair(text: str) -> str:
    """The most likely JSON object in an LLM's answer: inside a code fence if there is
    one, then the outermost balanced `{...}` (strings respected), else the text."""
    fenced = _FENCE.search(text)
    candidate = fenced.group(1) if fenced else text
    start = candidate.find("{")
    if start < 0:
        return candidate.strip()
    depth, in_string, escaped = 0, False, False
    for position in range(start, len(candidate)):
        char = candidate[position]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return candidate[start : position + 1]
    return candidate[start:].strip()


def parse_json_answer(text: str, model: type[M]) -> M:
    """Strict parse, then one repair; then pydantic validation. ScriptProblem says why."""
    try:
        raw: Any = json.loads(text)
    except json.JSONDecodeError:
        repaired = repair(text)
        try:
            raw = json.loads(repaired)
        except json.JSONDecodeError as exc:
            raise ScriptProblem(f"the answer is not JSON ({exc.msg} at char {exc.pos})") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}"
            for e in exc.errors(include_url=False)[:5]
        )
        raise ScriptProblem(f"the JSON does not match the format: {problems}") from None


def parse_script(text: str, duration_s: float) -> ScriptAnswer:
    answer = parse_json_answer(text, ScriptAnswer)
    if len(answer.scenes) * MIN_SCENE_S > duration_s:
        raise ScriptProblem(
            f"{len(answer.scenes)} scenes do not fit in {duration_s} s "
            f"(at least {MIN_SCENE_S:g} s each)"
        )
    return answer


def normalise(weights: list[float], total_s: float, min_s: float = MIN_SCENE_S) -> list[float]:
    """Durations in tenths of a second, proportional to `weights`, each at least `min_s`,
    summing exactly to `total_s` (largest remainders get the leftover tenths)."""
    tenths, low = round(total_s * 10), round(min_s * 10)
    if not weights or low * len(weights) > tenths:
        raise ValueError(f"{len(weights)} scenes do not fit in {total_s} s")
    # Scenes that would fall under the minimum get it; the rest share what is left.
    floored: set[int] = set()
    while True:
        free = [i for i in range(len(weights)) if i not in floored]
        left = tenths - low * len(floored)
        free_weight = sum(weights[i] for i in free) or 1.0
        raw = {i: left * weights[i] / free_weight for i in free}
        short = {i for i, r in raw.items() if r < low}
        if not short:
            break
        floored |= short
    parts = {i: math.floor(r) for i, r in raw.items()}
    order = sorted(raw, key=lambda i: raw[i] - parts[i], reverse=True)
    for i in order[: left - sum(parts.values())]:
        parts[i] += 1
    return [parts.get(i, low) / 10 for i in range(len(weights))]


def to_scenes(answer: ScriptAnswer, duration_s: float) -> list[Scene]:
    """Scenes with beats by position (hook first, call to action last) and durations
    normalised to `duration_s`."""
    lengths = normalise([s.duration_s for s in answer.scenes], duration_s)
    arc = beats(len(answer.scenes))
    return [
        Scene(
            index=index,
            beat=beat,
            script=scene.script,
            caption=scene.caption,
            visual_prompt=scene.visual_prompt,
            duration_s=seconds,
        )
        for index, (scene, beat, seconds) in enumerate(
            zip(answer.scenes, arc, lengths, strict=True), 1
        )
    ]


def _scene_claim(scene: ScriptScene, claims: tuple[str, ...]) -> str | None:
    """The brief claim a scene shows: the answer's own `claim` when it is one of the brief's
    (in the brief's spelling), else the claim its caption carries."""
    if scene.claim:
        named = next((c for c in claims if normalised(c) == normalised(scene.claim)), None)
        if named:
            return named
    return claim_on(scene.caption, claims)


def _hook_angle(scene: Scene) -> HookAngle:
    if scene.claim:
        return "claim"
    return "question" if scene.caption.rstrip().endswith("?") else "product"


def to_storyboard(answer: ScriptAnswer, request: GenerationRequest) -> Storyboard:
    """The storyboard of an LLM's answer: scenes as `to_scenes` makes them with the beat plan
    of the local planner, each scene's brief claim, the claims no caption shows, the brand's
    legal lines, and the style and variations chosen from the brief exactly as the local
    planner does."""
    facts = extract_facts(request)
    lengths = normalise([s.duration_s for s in answer.scenes], request.duration_s)
    arc = beat_plan(len(answer.scenes), facts.pain is not None, bool(facts.proof))
    scenes = [
        Scene(
            index=index,
            beat=beat,
            script=scene.script,
            caption=scene.caption,
            claim=_scene_claim(scene, facts.claims),
            visual_prompt=scene.visual_prompt,
            duration_s=seconds,
        )
        for index, (scene, beat, seconds) in enumerate(
            zip(answer.scenes, arc, lengths, strict=True), 1
        )
    ]
    left_out = [
        claim
        for claim in ranked_claims(facts)
        if not any(contains(scene.caption, claim) for scene in scenes)
    ]
    hook = scenes[0]
    planned = Storyboard(
        scenes=place_disclaimers(scenes, request.brand.disclaimers),
        style=style_of(request),
        claims_left_out=left_out,
        variations=plan_variations(request, facts, _hook_angle(hook), hook.caption, hook.script),
    )
    return readable_headlines(request, planned)


def joined_output(output: Any) -> str:
    """An LLM's output (a list of text chunks, or a string) as one text."""
    if output is None:
        return ""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(str(chunk) for chunk in output)
    return json.dumps(output)


def frame_prompt(request: GenerationRequest, scene: Scene) -> str:
    """An image model's prompt for a storyboard frame: the scene's shot in the brand's
    look. Captions are drawn by the renderer, so the picture carries no text."""
    style = [f"{request.brand.tone} tone" if request.brand.tone else "", "advertising photo"]
    if request.brand.colors:
        style.append("colour palette " + ", ".join(request.brand.colors))
    look = ", ".join(part for part in style if part)
    return f"{scene.visual_prompt}. {look}. No text, no captions, no watermark."


def clip_prompt(scene: Scene) -> str:
    """An image-to-video prompt: the shot, with gentle camera motion (ads cut fast)."""
    return f"{scene.visual_prompt}. Smooth cinematic camera motion, natural movement."
