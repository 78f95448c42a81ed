"""The brand's legal lines on screen, long enough to be read, and whether a video carries
a visible "AI-generated" label.

Disclaimers are placed from the end of the storyboard backwards: the call to action (the
end card) carries them first, then the scene before it, and so on, until the scenes that
carry them last long enough to read them (`reading_time_s`), or the storyboard runs out
(preflight then reports the shortfall). The lines of a brand are shown together, as one
block of small print, so they are timed together: the tail that carries them lasts long
enough to read all of them, which gives each one at least its own reading time.

Example::

    scenes = place_disclaimers(scenes, ["Results vary. Not medical advice."])
    [s.disclaimers for s in scenes]           # [[], [], ["Results vary. Not medical advice."]]
    shows_ai_label("tiktok", None, generative=True)   # True: TikTok labels AI content
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.creative.platforms import platform_spec
from shared.models import Scene

# Reading speed of small print on a moving ad: 3 words a second, slower than silent reading
# of body text (about 4), because the line competes with the picture and the voice; plus a
# second to notice the line and find its start. Preflight checks the same rule.
READING_WORDS_PER_S = 3.0
READING_LEAD_S = 1.0
AI_LABEL_TEXT = "AI-generated"


def word_count(text: str) -> int:
    return len(text.split())


def reading_time_s(text: str) -> float:
    """Seconds a viewer needs to read `text` on screen (0 for no words)."""
    words = word_count(text)
    if not words:
        return 0.0
    return words / READING_WORDS_PER_S + READING_LEAD_S


def place_disclaimers(scenes: Sequence[Scene], disclaimers: Sequence[str]) -> list[Scene]:
    """`scenes` with the legal lines placed: each scene from the last backwards carries
    every disclaimer, until the carrying scenes last the reading time of all of them
    together (or every scene carries them). Scenes before that carry none. Pure: the
    scenes given are not changed."""
    lines = [line.strip() for line in disclaimers if line.strip()]
    needed = reading_time_s(" ".join(lines))
    carried = 0.0
    placed: list[Scene] = []
    for scene in reversed(scenes):
        carries = bool(lines) and carried < needed - 1e-9
        if carries:
            carried += scene.duration_s
        placed.append(scene.model_copy(update={"disclaimers": list(lines) if carries else []}))
    return placed[::-1]


def time_on_screen_s(scenes: Sequence[Scene], disclaimer: str) -> float:
    """How long `disclaimer` is on screen over `scenes` (the durations of those carrying it)."""
    return sum(scene.duration_s for scene in scenes if disclaimer in scene.disclaimers)


def shows_ai_label(platform: str, brand_setting: bool | None, generative: bool) -> bool:
    """Whether a video shows the visible "AI-generated" label: the brand kit's setting
    when it makes one; else the platform's policy (`ai_label` in platforms.toml) for a
    video whose pictures or voice a generative model made (`generative`). The local
    engine's graphics are not AI-generated, and a label saying so would mislead."""
    if brand_setting is not None:
        return brand_setting
    return generative and platform_spec(platform).delivery.ai_label
