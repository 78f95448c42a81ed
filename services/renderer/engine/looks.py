"""The five variations: each one a distinct combination of motion family, transition,
caption card style, caption reveal and music arrangement, so variations of one job look
and sound visibly different while staying on brand."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Look:
    motion: str  # gentle | drift | push_in | pull_out | mixed   (see motion.choose_path)
    transition: str  # dissolve | push_left | dip | wipe | push_up (see transitions)
    caption: str  # panel | band | card | bubble | underline    (see captions)
    reveal: str  # fade | wipe | words                         (see captions)
    music: str  # pads | pulse | arp | bounce | airy           (see audio)


LOOKS: dict[int, Look] = {
    1: Look("gentle", "dissolve", "panel", "fade", "pads"),
    2: Look("drift", "push_left", "band", "wipe", "pulse"),
    3: Look("push_in", "dip", "card", "words", "arp"),
    4: Look("pull_out", "wipe", "bubble", "fade", "bounce"),
    5: Look("mixed", "push_up", "underline", "words", "airy"),
}


def look_for(variation: int) -> Look:
    return LOOKS[variation]


def rng(*parts: object) -> random.Random:
    """A Random seeded from `parts` by an explicit hash (independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))
