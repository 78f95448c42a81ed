"""Words timed for captions (services/renderer/engine/speech.py)."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import numpy as np
import pytest

from services.renderer.engine.speech import WordTime, align_words, reading_times
from tools.fake_replicate.media import _speech, encode_audio

SCRIPTS = [
    "Meet the Lumen lamp.",
    "Light that follows you, wherever you go.",
    "Warm at night, bright at noon.",
    "Shop now at lumen.example",
]


def _words(scripts: list[str]) -> list[tuple[str, int]]:
    return [(word, n) for n, script in enumerate(scripts, 1) for word in script.split()]


def _true_starts(text: str, rate: int, speed: float) -> list[float]:
    """The fake synthesizer gives each character one segment, so a word starts at its
    first letter's segment."""
    segment = int(rate / (15.0 * speed))
    starts = []
    for match in re.finditer(r"\S+", text):
        first = next(i for i in range(match.start(), match.end()) if text[i].isalnum())
        starts.append(first * segment / rate)
    return starts


def _start_errors(
    scripts: list[str], rate: int, speed: float, lead_s: float = 0.0
) -> tuple[np.ndarray, list[WordTime]]:
    text = " ".join(scripts)
    voice = _speech(text, rate, speed, 0, "voice-a")
    # Leading silence and a faint noise floor, as in a real recording.
    voice = np.concatenate([np.zeros((1, round(lead_s * rate)), np.float32), voice], axis=1)
    voice = voice + 1e-3 * np.random.default_rng(0).standard_normal(voice.shape)
    times = align_words(voice, rate, _words(scripts))
    truth = _true_starts(text, rate, speed)
    errors = np.array([abs(t.start_s - (s + lead_s)) for t, s in zip(times, truth, strict=True)])
    return errors, times


def test_alignment_on_fake_speech_is_accurate() -> None:
    # The fake Replicate voice at three rates and speeds, after 0.4 s of silence.
    for rate, speed in ((24_000, 1.0), (22_050, 1.2), (48_000, 0.9)):
        errors, times = _start_errors(SCRIPTS, rate, speed, lead_s=0.4)
        # Mean start error well under the 60 ms budget, p95 under 40 ms.
        assert errors.mean() < 0.025
        assert np.percentile(errors, 95) < 0.040
        # Words keep their scene and order, and never overlap.
        assert [t.scene for t in times] == [n for _, n in _words(SCRIPTS)]
        assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(times))
        assert all(t.start_s < t.end_s for t in times)


def test_alignment_on_a_long_voiceover() -> None:
    # One minute of speech: 5 scenes of 30 random words.
    chooser = random.Random(3)
    vocab = ["the", "a", "lamp", "light", "shop", "now", "bright", "warm", "follows", "every"]
    scripts = [" ".join(chooser.choice(vocab) for _ in range(30)) + "." for _ in range(5)]
    errors, _ = _start_errors(scripts, 48_000, 1.0)
    assert errors.mean() < 0.025
    assert np.percentile(errors, 95) < 0.040


def test_alignment_reads_a_file_and_shifts_by_the_offset(tmp_path: Path) -> None:
    # A wav file (decoded at 48 kHz), placed 1.5 s into the video.
    text = " ".join(SCRIPTS)
    path = tmp_path / "voice.wav"
    path.write_bytes(encode_audio(_speech(text, 24_000, 1.0, 0, "v"), 24_000, "wav"))
    times = align_words(path, 0, _words(SCRIPTS), offset_s=1.5)
    truth = _true_starts(text, 24_000, 1.0)
    errors = [abs(t.start_s - 1.5 - s) for t, s in zip(times, truth, strict=True)]
    assert float(np.mean(errors)) < 0.025
    # No words in, none out.
    assert align_words(path, 0, []) == []


def test_alignment_of_silence_spreads_the_words() -> None:
    # A silent voice gives each word a slot in order rather than failing.
    times = align_words(np.zeros(48_000), 48_000, [("one", 1), ("two", 1), ("three", 2)])
    assert [t.word for t in times] == ["one", "two", "three"]
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(times))


def test_reading_times_pace_and_fit() -> None:
    # Two scenes: a short caption and a long one that must be compressed.
    long_text = " ".join(["wonderful"] * 20)
    scenes = [(1, 0.0, 3.0, "Meet the Lumen lamp."), (2, 3.0, 5.0, long_text), (3, 5.0, 6.0, " ")]
    times = reading_times(scenes)
    first = [t for t in times if t.scene == 1]
    second = [t for t in times if t.scene == 2]
    # Every word of every non-empty scene, in order, with its scene.
    assert [t.word for t in first] == ["Meet", "the", "Lumen", "lamp."]
    assert len(second) == 20 and not [t for t in times if t.scene == 3]
    # A short lead-in after the cut, and everything done before the scene ends.
    assert 0.1 <= first[0].start_s <= 0.3
    assert first[-1].end_s <= 3.0 and second[-1].end_s <= 5.0 and second[0].start_s >= 3.0
    # Comfortable pace: 2.5..3 words a second when there is room.
    span = first[-1].end_s - first[0].start_s
    assert 2.3 <= len(first) / span <= 3.2
    # A longer word takes a little longer than a short one.
    assert first[2].end_s - first[2].start_s > first[1].end_s - first[1].start_s
    # Words never overlap.
    assert all(a.end_s <= b.start_s + 1e-9 for a, b in itertools.pairwise(times))


def test_word_time_is_frozen() -> None:
    word = WordTime("hi", 0.0, 0.3, 1)
    with pytest.raises(AttributeError):
        word.start_s = 1.0  # type: ignore[misc]
