"""Caption files of a render: the voice-over's timed words grouped into the caption "pages"
the video shows, written as WebVTT (with per-word timestamps) and SRT.

Pure: no I/O. The words come from `speech.WordTime` (word, start_s, end_s, scene); any
object with those attributes does, so this module does not import the speech engine.

Why pages and not sentences: a caption must be readable at a glance on a phone (at most
`max_words` words, `max_chars` characters), and it must never straddle a scene change,
where the picture and the headline change under it. Sentence ends also break a page, so a
page never reads as the end of one thought glued to the start of the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

# How long a page stays up after its last word when nothing follows at once: long enough
# to finish reading, short enough not to linger over a pause.
HOLD_S = 0.3
_SENTENCE_END = (".", "!", "?", "…")
_CLOSERS = "\"'”’)]»"


class TimedWord(Protocol):
    """What `speech.WordTime` provides (read-only attributes, so frozen dataclasses fit)."""

    @property
    def word(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def scene(self) -> int: ...


@dataclass(frozen=True)
class Cue:
    """One caption page: shown from `start_s` to `end_s`, its words with their own times."""

    start_s: float
    end_s: float
    words: tuple[TimedWord, ...]

    @property
    def text(self) -> str:
        return " ".join(_clean(w.word) for w in self.words)


def _clean(word: str) -> str:
    return " ".join(word.split())


def _ends_sentence(word: str) -> bool:
    return word.rstrip(_CLOSERS).endswith(_SENTENCE_END)


def _group(words: Iterable[TimedWord], max_words: int, max_chars: int) -> list[list[TimedWord]]:
    pages: list[list[TimedWord]] = []
    page: list[TimedWord] = []
    chars = 0
    for word in words:
        text = _clean(word.word)
        if not text:
            continue
        if page and (
            word.scene != page[-1].scene
            or len(page) >= max_words
            or chars + 1 + len(text) > max_chars
            or _ends_sentence(page[-1].word)
        ):
            pages.append(page)
            page, chars = [], 0
        chars += len(text) + (1 if page else 0)
        page.append(word)
    if page:
        pages.append(page)
    return pages


def caption_pages(words: Sequence[TimedWord], max_words: int = 6, max_chars: int = 32) -> list[Cue]:
    """The caption pages of `words` (in spoken order). A page runs from its first word's
    start to the next page's start, or to its last word's end + `HOLD_S` when the next page
    starts later than that: pages never overlap, and a short gap does not blink."""
    if max_words < 1 or max_chars < 1:
        raise ValueError("max_words and max_chars must be at least 1")
    pages = _group(words, max_words, max_chars)
    cues: list[Cue] = []
    for i, page in enumerate(pages):
        start = page[0].start_s
        if cues:
            start = max(start, cues[-1].end_s)
        end = max(w.end_s for w in page) + HOLD_S
        if i + 1 < len(pages):
            end = min(end, pages[i + 1][0].start_s)
        # Malformed timings (a word starting before the previous ended) still give a cue
        # that lasts: a zero-length cue is dropped by players.
        end = max(end, start + 0.001)
        cues.append(Cue(start_s=start, end_s=end, words=tuple(page)))
    return cues


def _ms(seconds: float) -> tuple[int, int, int, int]:
    total = max(0, round(seconds * 1000))
    hours, rest = divmod(total, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return hours, minutes, secs, millis


def vtt_timestamp(seconds: float) -> str:
    h, m, s, ms = _ms(seconds)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def srt_timestamp(seconds: float) -> str:
    h, m, s, ms = _ms(seconds)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt_payload(cue: Cue) -> str:
    """The cue text with a timestamp tag before each word after the first, so players
    (and `::cue(:past)` styling) can highlight words as they are spoken. WebVTT wants each
    tag strictly after the cue start and the previous tag, and before the cue end."""
    parts: list[str] = []
    last_ms = _ms_total(cue.start_s)
    end_ms = _ms_total(cue.end_s)
    for i, word in enumerate(cue.words):
        text = _vtt_escape(_clean(word.word))
        at = _ms_total(word.start_s)
        if i and last_ms < at < end_ms:
            parts.append(f"<{vtt_timestamp(at / 1000)}>{text}")
            last_ms = at
        else:
            parts.append(text)
    return " ".join(parts)


def _ms_total(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def to_vtt(cues: Sequence[Cue]) -> str:
    """A WebVTT file: numbered cues, per-word timestamp tags (karaoke-style highlight)."""
    blocks = ["WEBVTT"]
    for number, cue in enumerate(cues, 1):
        timing = f"{vtt_timestamp(cue.start_s)} --> {vtt_timestamp(cue.end_s)}"
        blocks.append(f"{number}\n{timing}\n{_vtt_payload(cue)}")
    return "\n\n".join(blocks) + "\n"


def to_srt(cues: Sequence[Cue]) -> str:
    """An SRT file: numbered cues, `HH:MM:SS,mmm` timings, plain text."""
    blocks = []
    for number, cue in enumerate(cues, 1):
        timing = f"{srt_timestamp(cue.start_s)} --> {srt_timestamp(cue.end_s)}"
        blocks.append(f"{number}\n{timing}\n{cue.text}")
    return "\n\n".join(blocks) + "\n" if blocks else ""


__all__ = [
    "HOLD_S",
    "Cue",
    "TimedWord",
    "caption_pages",
    "srt_timestamp",
    "to_srt",
    "to_vtt",
    "vtt_timestamp",
]
