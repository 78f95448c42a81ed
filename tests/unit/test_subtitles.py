"""Caption pages and their WebVTT / SRT files (`services/renderer/engine/subtitles.py`)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import pytest

from services.renderer.engine.subtitles import (
    HOLD_S,
    Cue,
    caption_pages,
    srt_timestamp,
    to_srt,
    to_vtt,
    vtt_timestamp,
)


@dataclass(frozen=True)
class Word:
    """The fields of `speech.WordTime` (duck-typed: subtitles does not import speech)."""

    word: str
    start_s: float
    end_s: float
    scene: int


def words(text: str, start: float = 0.0, step: float = 0.4, scene: int = 1) -> list[Word]:
    return [
        Word(w, round(start + i * step, 3), round(start + i * step + step - 0.05, 3), scene)
        for i, w in enumerate(text.split())
    ]


def test_pages_respect_word_and_character_limits() -> None:
    cues = caption_pages(words("one two three four five six seven eight nine"), max_words=4)
    assert [c.text for c in cues] == ["one two three four", "five six seven eight", "nine"]
    long = caption_pages(words("Brightening vitamin serum for sensitive morning skin"))
    assert all(len(c.text) <= 32 for c in long)
    assert " ".join(c.text for c in long) == "Brightening vitamin serum for sensitive morning skin"


def test_a_word_longer_than_a_page_gets_its_own_page() -> None:
    cues = caption_pages(words("a supercalifragilisticexpialidocious b"), max_chars=10)
    assert [c.text for c in cues] == ["a", "supercalifragilisticexpialidocious", "b"]


def test_pages_never_cross_a_scene_change_and_break_at_sentence_ends() -> None:
    spoken = words("Tired skin? Meet Glow.", scene=1) + words("It works fast", start=2.0, scene=2)
    assert [c.text for c in caption_pages(spoken)] == ["Tired skin?", "Meet Glow.", "It works fast"]
    quoted = words('He said "go." Then left')
    assert [c.text for c in caption_pages(quoted)] == ['He said "go."', "Then left"]


def test_timing_is_continuous_over_short_gaps_and_held_briefly_over_long_ones() -> None:
    first = words("Meet Glow.", start=0.0)  # ends at 0.75
    close = words("Shine on.", start=0.9)  # gap 0.15 s: held until it starts
    far = words("Buy now.", start=5.0)  # gap of seconds: last word + HOLD_S
    cues = caption_pages(first + close + far)
    assert cues[0].start_s == 0.0 and cues[0].end_s == 0.9
    assert cues[1].end_s == pytest.approx(close[-1].end_s + HOLD_S)
    assert cues[2].start_s == 5.0 and cues[2].end_s == pytest.approx(far[-1].end_s + HOLD_S)
    for a, b in itertools.pairwise(cues):
        assert a.end_s <= b.start_s


def test_overlapping_word_times_still_give_ordered_non_empty_cues() -> None:
    bad = [Word("a.", 0.0, 1.0, 1), Word("b.", 0.5, 0.6, 1), Word("c", 0.5, 0.7, 1)]
    cues = caption_pages(bad)
    for cue in cues:
        assert cue.end_s > cue.start_s
    for a, b in itertools.pairwise(cues):
        assert a.end_s <= b.start_s


def test_empty_words_and_whitespace_are_ignored() -> None:
    assert caption_pages([]) == []
    cues = caption_pages([Word("  ", 0, 0.1, 1), Word("hi\n", 0.1, 0.3, 1)])
    assert [c.text for c in cues] == ["hi"]
    with pytest.raises(ValueError):
        caption_pages(words("x"), max_words=0)


def test_timestamps() -> None:
    assert vtt_timestamp(0) == "00:00:00.000"
    assert vtt_timestamp(3723.4567) == "01:02:03.457"
    assert srt_timestamp(61.2) == "00:01:01,200"
    assert srt_timestamp(-1) == "00:00:00,000"


def test_vtt_has_cue_timings_and_increasing_inline_word_timestamps() -> None:
    cues = caption_pages(words("Meet <Glow> & shine. Shop now", start=1.0))
    vtt = to_vtt(cues)
    assert vtt.startswith("WEBVTT\n\n")
    blocks = vtt.strip().split("\n\n")[1:]
    assert len(blocks) == 2
    number, timing, payload = blocks[0].split("\n")
    assert number == "1"
    assert timing == "00:00:01.000 --> 00:00:02.600"
    assert payload == "Meet <00:00:01.400>&lt;Glow&gt; <00:00:01.800>&amp; <00:00:02.200>shine."
    for block in blocks:
        _, timing, payload = block.split("\n")
        start, end = (_seconds(t) for t in timing.split(" --> "))
        inline = [_seconds(t) for t in re.findall(r"<(\d\d:\d\d:\d\d\.\d{3})>", payload)]
        assert inline, payload
        assert all(start < t < end for t in inline)
        assert inline == sorted(set(inline))


def test_srt_is_numbered_with_comma_timings_and_plain_text() -> None:
    srt = to_srt(caption_pages(words("Meet Glow. Shop now", start=0.5)))
    assert srt == (
        "1\n00:00:00,500 --> 00:00:01,300\nMeet Glow.\n\n"
        "2\n00:00:01,300 --> 00:00:02,350\nShop now\n"
    )
    assert to_srt([]) == ""
    assert to_vtt([]) == "WEBVTT\n"


def test_cue_text_joins_words() -> None:
    cue = Cue(0.0, 1.0, (Word("a", 0, 0.5, 1), Word(" b ", 0.5, 1, 1)))
    assert cue.text == "a b"


def _seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)
