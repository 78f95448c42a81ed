"""Headlines the planners write themselves, made to fit: a line taken from the prompt
("Introducing Glow Serum: brighter skin in 7 days") can need more lines than its box
holds at the smallest readable size, which preflight would rightly refuse. The planner
shortens its own words — the part after a colon, the first clauses, the first words —
keeping the full sentence in the voice-over. The brief's key messages are the client's
words and stay verbatim: when one does not fit, preflight says so and the client decides.

Example::

    storyboard = readable_headlines(request, plan)   # same scenes, shorter headlines
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from shared.checks.onscreen import screens
from shared.checks.textfit import headline_fits
from shared.models import GenerationRequest, Storyboard

# Words a shortened headline must not end on ("Brighter skin in").
_DANGLING = frozenset(
    [
        "a",
        "an",
        "and",
        "at",
        "by",
        "for",
        "from",
        "in",
        "into",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "your",
        "our",
        "that",
        "which",
        "who",
        "is",
        "are",
        "was",
        "were",
    ]
)
_CLAUSES = re.compile(r"\s*(?:[,;:]|\s[-–—]\s)\s*|\s+(?:and|but)\s+")
# "A coffee maker that is ready in 12 hours": what follows is what the thing does or is.
_DESCRIBED = re.compile(r"\s(?:that|which|who)\s+(?:(?:is|are|was|were)\s+)?", re.IGNORECASE)
# A number a cut leaves last has lost what it counts ("lasts 800" of "lasts 800 km").
_BARE_NUMBER = re.compile(r"^[$€£]?\d[\d.,]*[x%]?$")


def readable_headlines(request: GenerationRequest, storyboard: Storyboard) -> Storyboard:
    """`storyboard` with each headline the planner wrote (scene captions, variation hooks)
    shortened where it does not fit its box at the smallest readable size."""
    verbatim = {_key(message) for message in request.key_messages}
    changes: dict[tuple[int, str], str] = {}  # (scene index, headline) -> shorter one
    for screen in screens(request, storyboard):
        headline = screen.design.headline
        key = (screen.scene, headline)
        if key in changes or _key(headline) in verbatim or headline_fits(screen.design):
            continue
        for shorter in _shorter(headline):
            if headline_fits(dataclasses.replace(screen.design, headline=shorter)):
                changes[key] = shorter
                break
    if not changes:
        return storyboard
    scenes = [
        scene.model_copy(
            update={"caption": changes.get((scene.index, scene.caption), scene.caption)}
        )
        for scene in storyboard.scenes
    ]
    first = storyboard.scenes[0].index if storyboard.scenes else 1
    variations = [
        plan.model_copy(update={"hook": changes.get((first, plan.hook), plan.hook)})
        for plan in storyboard.variations
    ]
    return storyboard.model_copy(update={"scenes": scenes, "variations": variations})


def _shorter(headline: str) -> Iterator[str]:
    """Shorter headlines saying the gist of `headline`: what follows a colon, what a
    "that"/"which" says of the thing, then the first clauses (longest first; "and" and
    "but" join clauses too), and only then the first words, never ending on a number
    whose unit was cut."""
    text = headline.strip().rstrip(".!")
    clauses = [part for part in _CLAUSES.split(text) if part]
    meaningful = [text.split(":", 1)[1]] if ":" in text else []
    if described := _DESCRIBED.search(text):
        meaningful.append(text[described.end() :])
    meaningful += sorted(
        (", ".join(clauses[:n]) for n in range(len(clauses) - 1, 0, -1)), key=len, reverse=True
    )
    words = text.split()
    cuts = []
    for n in range(len(words) - 1, 1, -1):
        kept = words[:n]
        while kept and (kept[-1].lower().strip(",;:") in _DANGLING or _BARE_NUMBER.match(kept[-1])):
            kept.pop()
        cuts.append(" ".join(kept).rstrip(",;:"))
    seen = {_key(headline)}
    for candidate in [*meaningful, *cuts]:
        candidate = candidate.strip()
        candidate = candidate[:1].upper() + candidate[1:]
        if len(candidate.split()) >= 2 and _key(candidate) not in seen:
            seen.add(_key(candidate))
            yield candidate


def _key(text: str) -> str:
    return " ".join(text.lower().split())
