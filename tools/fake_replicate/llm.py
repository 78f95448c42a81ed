"""The fake LLM: a JSON storyboard built from the prompt's own words, streamed as chunks.

Control lines in the prompt (or system prompt), case-insensitive:
    scene_count: N    how many scenes (default 5)
    duration_s: D     the ad's length; scene durations sum to about D (default 6 s a scene)

Brief lines of the backend's script prompt, followed the way the prompt's rules ask (a
prompt without them gets the plain keyword storyboard):
    key message N: X / claim N: X   claims, strongest first: the hook and each solution or
                                    benefit scene puts the next one on screen as its caption,
                                    says it in its script and names it in `claim`
    beats: hook, solution, ...      the beat of each scene
    call to action: X               the last scene's caption
"""

from __future__ import annotations

import json
import random
import re
from typing import Literal

LlmMode = Literal["json", "malformed", "invalid"]

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "that",
        "the",
        "their",
        "this",
        "to",
        "was",
        "we",
        "were",
        "will",
        "with",
        "you",
        "your",
        "about",
        "make",
        "makes",
        "made",
        "create",
        "write",
        "scene",
        "scenes",
        "short",
        "video",
        "videos",
        "json",
        "storyboard",
        "each",
        "must",
        "should",
        "return",
        "only",
        "object",
        "key",
        "keys",
        "field",
        "fields",
        "script",
        "caption",
        "visual",
        "prompt",
        "prompts",
        "duration",
        "seconds",
        "second",
        "count",
        "platform",
        "ad",
        "ads",
        "advert",
        "advertisement",
        "between",
        "per",
        "one",
        "two",
        "three",
        "four",
        "five",
        "tiktok",
        "instagram",
        "youtube",
        "reel",
        "reels",
        "shorts",
        "arc",
        "hook",
        "solution",
        "benefits",
        "call",
        "action",
        "last",
        "durations",
        "answer",
    ]
)
SCENE_ROLES = (
    ("Open on", "Stop scrolling", "close-up establishing shot of"),
    ("Show the problem with", "Sound familiar?", "moody handheld shot about"),
    ("Introduce", "Meet the fix", "hero product shot featuring"),
    ("Show people loving", "Loved by thousands", "bright lifestyle shot with"),
    ("Prove it with", "See the difference", "side-by-side comparison of"),
    ("Close on", "Try it today", "clean end card with"),
)
CONTROL_LINE = r"(?im)^\s*[-*]?\s*{key}\s*[:=]\s*([0-9]+(?:\.[0-9]+)?)"
CLAIM_LINE = re.compile(r"(?im)^\s*(?:key message|claim)\s+\d+\s*:\s*(.+?)\s*$")
WORD_RATE = re.compile(r"at most ([0-9.]+) words per second")
BEATS_LINE = re.compile(r"(?im)^\s*beats\s*:\s*(.+?)\s*$")
CTA_LINE = re.compile(r"(?im)^\s*call to action\s*:\s*(.+?)\s*$")
CLAIM_BEATS = ("hook", "solution", "benefit")


def control_value(text: str, key: str) -> float | None:
    match = re.search(CONTROL_LINE.format(key=re.escape(key)), text)
    return float(match.group(1)) if match else None


LABEL = re.compile(r"^\s*[\w '-]{1,30}:\s*(.*)$")


def keywords(prompt: str) -> list[str]:
    """Content words of the prompt in order of first use: labelled lines ("brief: ...")
    first, then the rest; control lines and format examples (lines with `{`) left out."""
    prose = re.sub(CONTROL_LINE.format(key=r"\w+"), "", prompt)
    labelled, other = [], []
    for line in prose.splitlines():
        if "{" in line:
            continue
        if match := LABEL.match(line):
            labelled.append(match.group(1))
        else:
            other.append(line)
    seen: dict[str, None] = {}
    for word in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", "\n".join(labelled + other)):
        lower = word.lower().strip("'-")
        if lower not in STOPWORDS and lower not in seen:
            seen[lower] = None
    return list(seen) or ["product"]


def _durations(count: int, total: float | None, rng: random.Random) -> list[float]:
    each = (total or 6.0 * count) / count
    # Roughly, not exactly, the requested length: the backend has to reconcile it.
    return [max(1.0, round(each * rng.uniform(0.85, 1.15), 1)) for _ in range(count)]


def _role(index: int, count: int) -> tuple[str, str, str]:
    """Hook first, call to action last, the middle roles in between."""
    if count == 1:
        return SCENE_ROLES[2]
    if index == count - 1:
        return SCENE_ROLES[-1]
    return SCENE_ROLES[index % (len(SCENE_ROLES) - 1)]


def _grounded(scenes: list[dict[str, object]], prompt: str) -> list[dict[str, object]]:
    """The scenes with the brief's claims on screen, strongest first, as the script
    prompt's rules ask: each claim scene's caption is the claim verbatim, its script says
    it and its `claim` names it; the last scene shows the call to action."""
    claims = CLAIM_LINE.findall(prompt)
    if not claims:
        return scenes
    beats_line = BEATS_LINE.search(prompt)
    arc = [b.strip().lower() for b in beats_line.group(1).split(",")] if beats_line else []
    cta = CTA_LINE.search(prompt)
    queue = list(claims)
    grounded = []
    for index, scene in enumerate(scenes):
        beat = arc[index] if index < len(arc) else ("cta" if index == len(scenes) - 1 else "")
        claim = None
        if beat == "cta" and len(scenes) > 1:
            caption = cta.group(1) if cta else str(scene["caption"])
            script = f"{caption}. {scene['script']}"
        elif queue and (beat in CLAIM_BEATS or not arc):
            claim = caption = queue.pop(0)
            script = f"{claim}. {scene['script']}"
        else:
            caption, script = str(scene["caption"]), str(scene["script"])
        budget = _word_budget(prompt, float(str(scene.get("duration_s", 3))))
        grounded.append(
            {**scene, "script": _within(script, budget), "caption": caption, "claim": claim}
        )
    return grounded


def _word_budget(prompt: str, seconds: float) -> int:
    """The prompt's words-per-second rule for a scene of `seconds` (none: no limit)."""
    rate = WORD_RATE.search(prompt)
    return max(3, int(float(rate.group(1)) * seconds)) if rate else 10_000


def _within(script: str, budget: int) -> str:
    """The script cut to `budget` words at the end of a word, as a sentence."""
    words = script.split()
    if len(words) <= budget:
        return script
    return " ".join(words[:budget]).rstrip(",;:.!?") + "."


def storyboard(prompt: str, system_prompt: str, seed: int) -> dict[str, object]:
    controls = f"{system_prompt}\n{prompt}"
    count = int(control_value(controls, "scene_count") or 5)
    count = max(1, min(count, 30))
    words = keywords(prompt)
    rng = random.Random(f"{seed}:{prompt}")
    subject = " ".join(words[:2])
    scenes = []
    for index, duration in enumerate(_durations(count, control_value(controls, "duration_s"), rng)):
        script_verb, caption_lead, shot = _role(index, count)
        detail = words[(index + 2) % len(words)]
        extra = words[(index * 3 + 1) % len(words)]
        scenes.append(
            {
                "script": f"{script_verb} {subject}: {detail} meets {extra}, made for you.",
                "caption": f"{caption_lead} {detail.title()}",
                "visual_prompt": (
                    f"{shot} {subject}, {detail} and {extra}, cinematic lighting, "
                    f"vertical ad frame, sharp focus"
                ),
                "duration_s": duration,
            }
        )
    return {"scenes": _grounded(scenes, prompt)}


def respond(prompt: str, system_prompt: str, seed: int, mode: LlmMode) -> str:
    body = json.dumps(storyboard(prompt, system_prompt, seed), indent=2)
    if mode == "malformed":
        return (
            "Here is your storyboard:\n\n```json\n" + body + "\n```\n\n"
            "Let me know if you would like me to adjust the tone or the pacing of any scene!"
        )
    if mode == "invalid":
        words = keywords(prompt)
        return (
            f"I'd be happy to help with an ad about {' '.join(words[:3])}! Scene one could open "
            f"on {words[0]}, then we cut to a shot of people enjoying it. Would you like me to "
            "write the full script?"
        )
    return body


def chunks(text: str) -> list[str]:
    """Token-like pieces (each word with its leading whitespace) that join back to `text`."""
    pieces = re.findall(r"\s*\S+", text)
    tail = text[len("".join(pieces)) :]
    return [*pieces, tail] if tail else pieces


def token_count(text: str) -> int:
    """Llama-ish token count: about 1.3 tokens a word."""
    return max(1, round(len(text.split()) * 1.3)) if text.strip() else 0


def truncate(pieces: list[str], max_tokens: int) -> list[str]:
    """What a `max_tokens` limit leaves of the chunks: generation simply stops."""
    return pieces[: max(1, int(max_tokens / 1.3))]
