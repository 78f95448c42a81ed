"""Scene planning for the offline engine: a narrative arc timed to the brief.

Pure and deterministic (the same brief and job id give the same storyboard), so a
redelivered request produces the same scenes and the planner is tested directly.
"""

from __future__ import annotations

import hashlib
import math
import re

from shared.models import PLATFORM_SIZE, GenerationRequest, Scene

MIN_SCENE_S = 3.0
MAX_SCENE_S = 6.0
TARGET_SCENE_S = 4.5

# Hook and call to action are slightly shorter/longer: a hook must land fast, the
# call to action needs reading time.
BEAT_WEIGHT = {"hook": 0.85, "problem": 1.0, "solution": 1.0, "benefit": 1.0, "cta": 1.15}

HOOK_LINES = (
    "Stop scrolling: {product} is here.",
    "What if {audience_phrase} never had to settle again?",
    "This changes everything about {topic}.",
)
PROBLEM_LINES = (
    "You know the feeling: {pain}.",
    "Tired of {pain}? You are not alone.",
    "Most {audience_plain} put up with {pain} every day.",
)
SOLUTION_LINES = (
    "Meet {product}: made for {audience_plain}.",
    "{product} was built to fix exactly that.",
    "Enter {product}, the simple answer.",
)
BENEFIT_LINES = (
    "{message}.",
    "{message} — and you feel the difference.",
    "Here is the best part: {message_lower}.",
)
CTA_LINES = (
    "{cta}. Your turn.",
    "Ready? {cta}.",
    "{cta} today with {product}.",
)
LINES = {
    "hook": HOOK_LINES,
    "problem": PROBLEM_LINES,
    "solution": SOLUTION_LINES,
    "benefit": BENEFIT_LINES,
    "cta": CTA_LINES,
}
SHOT = {
    "hook": "bold close-up that grabs attention in the first second",
    "problem": "relatable everyday moment showing the frustration",
    "solution": "hero shot of the product, clean studio light",
    "benefit": "lifestyle shot of a happy customer enjoying the result",
    "cta": "end card with the product and the call to action",
}
ASPECT = {(1080, 1920): "vertical 9:16", (1080, 1080): "square 1:1", (1920, 1080): "wide 16:9"}


def scene_count(duration_s: float) -> int:
    """How many scenes make `duration_s`, each about 3-6 s long."""
    lowest = max(1, math.ceil(duration_s / MAX_SCENE_S))
    highest = max(lowest, math.floor(duration_s / MIN_SCENE_S))
    return min(highest, max(lowest, round(duration_s / TARGET_SCENE_S)))


def beats(count: int) -> list[str]:
    """The narrative arc: hook → problem → solution → benefits → call to action."""
    arcs = {1: ["cta"], 2: ["hook", "cta"], 3: ["hook", "solution", "cta"]}
    if count in arcs:
        return arcs[count]
    return ["hook", "problem", "solution", *["benefit"] * (count - 4), "cta"]


def durations(arc: list[str], total_s: float) -> list[float]:
    """Per-scene durations in tenths of a second that sum exactly to `total_s`, weighted
    by beat and kept within 3-6 s whenever the total allows it."""
    weights = [BEAT_WEIGHT[b] for b in arc]
    tenths = round(total_s * 10)
    low, high = round(MIN_SCENE_S * 10), round(MAX_SCENE_S * 10)
    if len(arc) == 1 or not low * len(arc) <= tenths <= high * len(arc):
        low, high = 1, tenths
    raw = [tenths * w / sum(weights) for w in weights]
    parts = [min(high, max(low, math.floor(r))) for r in raw]
    # Hand the leftover tenths out one at a time (largest remainder first) to scenes that
    # still have room, so the sum is exact and no scene leaves the range.
    order = sorted(range(len(raw)), key=lambda i: raw[i] - parts[i], reverse=True)
    while (gap := tenths - sum(parts)) != 0:
        step = 1 if gap > 0 else -1
        for i in order if step > 0 else reversed(order):
            if low <= parts[i] + step <= high:
                parts[i] += step
                break
    return [p / 10 for p in parts]


def _pick(options: tuple[str, ...], *seed_parts: object) -> str:
    digest = hashlib.sha256("|".join(map(str, seed_parts)).encode()).digest()
    return options[digest[0] % len(options)]


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+|;\s*", text)
    return [p.strip(" .!?") for p in parts if len(p.strip(" .!?")) > 3]


_PRODUCT_PATTERNS = (
    re.compile(
        r"\b(?i:introducing|meet|launch(?:ing)?|promote|promoting)\s+(?:(?:our|the|a|an)\s+)?"
        r"(?:new\s+)?([A-Z][\w'-]*(?:\s+[\w'-]+){0,3})"
    ),
    re.compile(
        r"\bfor\s+(?:our|the|a|an)\s+(?:new\s+)?([\w'-]+(?:\s+[\w'-]+){0,3})", re.IGNORECASE
    ),
)
_ABOUT_THE_AD = re.compile(r"\b(?:ad|advert|video|commercial|spot|campaign)\b", re.IGNORECASE)


def _product(request: GenerationRequest) -> str:
    if request.product:
        return request.product
    for pattern in _PRODUCT_PATTERNS:
        if match := pattern.search(request.prompt):
            return re.split(r"[,.;:!?]| (?:that|which|with|to|in)\b", match.group(1))[0].strip()
    return "our product"


def _messages(request: GenerationRequest) -> list[str]:
    if request.key_messages:
        return list(request.key_messages)
    sentences = _sentences(request.prompt)
    # Sentences that describe the ad itself ("A launch video for...") are not selling points.
    selling = [s for s in sentences if not _ABOUT_THE_AD.search(s)]
    return selling or sentences or [request.prompt]


def _words(text: str, limit: int) -> str:
    words = text.split()
    return " ".join(words[:limit]) + ("…" if len(words) > limit else "")


class BriefContext:
    """The brief reduced to the phrases the line templates use."""

    def __init__(self, request: GenerationRequest) -> None:
        self.request = request
        self.product = _product(request)
        self.audience_plain = request.audience or "people"
        self.messages = _messages(request)
        self.cta = request.call_to_action or "Shop now"
        self.pain = "settling for less than you deserve"

    def fill(self, template: str, message: str) -> str:
        return template.format(
            product=self.product,
            audience_phrase=self.audience_plain.lower(),
            audience_plain=self.audience_plain.lower(),
            topic=self.product,
            pain=self.pain,
            message=message[:1].upper() + message[1:],
            message_lower=message[:1].lower() + message[1:],
            cta=self.cta,
        )

    def visual_prompt(self, beat: str, extra: str = "") -> str:
        brand = self.request.brand
        size = PLATFORM_SIZE[self.request.platform]
        colours = ", ".join(brand.colors) if brand.colors else "a warm modern palette"
        parts = [
            f"{ASPECT.get(size, 'video')} ad frame",
            SHOT[beat],
            f"featuring {self.product}",
            f"brand colours {colours}",
            f"{brand.tone or 'confident'} tone",
        ]
        if extra:
            parts.append(extra)
        return "; ".join(parts)


def plan_scenes(job_id: str, request: GenerationRequest) -> list[Scene]:
    """The storyboard for a brief: scenes with beat, script, caption, visual prompt, timing."""
    context = BriefContext(request)
    arc = beats(scene_count(request.duration_s))
    scenes = []
    benefit_n = 0
    for index, (beat, seconds) in enumerate(
        zip(arc, durations(arc, request.duration_s), strict=True), 1
    ):
        message = context.messages[benefit_n % len(context.messages)]
        if beat == "benefit":
            benefit_n += 1
        script = _sentence_case(context.fill(_pick(LINES[beat], job_id, index), message))
        scenes.append(
            Scene(
                index=index,
                beat=beat,
                script=script,
                caption=caption_for(beat, context, message),
                visual_prompt=context.visual_prompt(beat),
                duration_s=seconds,
            )
        )
    return scenes


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def caption_for(beat: str, context: BriefContext, message: str) -> str:
    if beat == "cta":
        return _words(context.cta, 6)
    if beat == "solution":
        return _words(context.product, 6)
    if beat == "hook":
        return _words(f"Meet {context.product}", 6)
    if beat == "problem":
        return "Sound familiar?"
    return _words(message, 7)


def refine_scene(job_id: str, request: GenerationRequest, scene: Scene, feedback: str) -> Scene:
    """Rewrite one scene after client feedback: quoted text becomes the caption, the
    feedback steers the script and visual prompt, timing is kept."""
    context = BriefContext(request)
    revision = scene.revision + 1
    quoted = re.findall(r"[\"“']([^\"”']{2,80})[\"”']", feedback)
    caption = _words(quoted[0], 8) if quoted else scene.caption
    template = _pick(LINES.get(scene.beat, SOLUTION_LINES), job_id, scene.index, revision)
    base = _sentence_case(context.fill(template, context.messages[0]))
    script = quoted[0] if quoted else f"{base} {_words(feedback.strip().rstrip('.'), 20)}."
    return scene.model_copy(
        update={
            "script": script,
            "caption": caption,
            "visual_prompt": context.visual_prompt(
                scene.beat or "solution", f"direction: {feedback}"
            ),
            "revision": revision,
        }
    )
