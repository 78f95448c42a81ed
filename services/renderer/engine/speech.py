"""Words timed for captions: aligned to the voice-over when there is one, else paced at a
comfortable reading speed.

The script is known, so this is alignment, not recognition: only where each known word
starts and ends has to be found. Speech energy dips between words (deeply at pauses,
often only a little inside a phrase), and a word's spoken length roughly follows its
letters, so a dynamic programme chooses the word boundaries among the energy minima that
best agree with both. See `align_words` for the measured accuracy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HOP_S = 0.01
_SILENT_DBFS = -60.0  # a voice whose speech level is under this is taken as silence
_VOICED_DB = 35.0  # frames within this many dB of the speech level are voiced
_MIN_PAUSE_S = 0.03
_PAUSE_BONUS = 4.0  # per 100 ms of pause used as a boundary (capped at 300 ms)
_DIP_COST = 3.0  # a boundary at a minimum as loud as speech costs this much
_LENGTH_COST = 2.0  # per squared log-ratio of a word's voiced length to its expected one
_VOWELS = re.compile(r"[aeiouy]+")


@dataclass(frozen=True)
class WordTime:
    word: str
    start_s: float
    end_s: float
    scene: int


# ------------------------------------------------------------------------------ lengths


def _syllables(word: str) -> int:
    letters = "".join(ch for ch in word.lower() if ch.isalpha())
    if not letters:
        return 0
    count = len(_VOWELS.findall(letters))
    if letters.endswith("e") and count > 1 and not letters.endswith("le"):
        count -= 1  # a silent final e
    return max(1, count)


def spoken_weight(word: str) -> float:
    """Expected spoken length of `word` in letter units: its letters and digits (a digit
    is read as a word, about three letters), and its syllables, which carry the time in
    real speech (each is worth about three letters)."""
    letters = sum(ch.isalpha() for ch in word)
    digits = sum(ch.isdigit() for ch in word)
    units = letters + 3 * digits
    return max(1.0, 0.5 * units + 0.5 * 3 * (_syllables(word) + digits))


# ------------------------------------------------------------------------------ alignment


def _mono(voice: np.ndarray | Path, rate: int) -> tuple[np.ndarray, int]:
    if isinstance(voice, Path):
        # Imported here: audio pulls in the music and beat modules, which speech does not
        # otherwise need.
        from services.renderer.engine.audio import load_audio
        from services.renderer.engine.loudness import SAMPLE_RATE

        return load_audio(voice, 3600.0).mean(axis=0), SAMPLE_RATE
    samples = np.asarray(voice, dtype=np.float64)
    return (samples.mean(axis=0) if samples.ndim == 2 else samples), rate


def energy_db(mono: np.ndarray, rate: int) -> np.ndarray:
    """RMS level (dB) of each 10 ms hop."""
    hop = max(1, round(HOP_S * rate))
    frames = -(-mono.size // hop)
    padded = np.pad(mono.astype(np.float64) ** 2, (0, frames * hop - mono.size))
    power = padded.reshape(frames, hop).mean(axis=1)
    level: np.ndarray = 10 * np.log10(np.maximum(power, 1e-12))
    return level


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in `mask`."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def align_words(
    voice: np.ndarray | Path,
    rate: int,
    words: list[tuple[str, int]],
    offset_s: float = 0.0,
) -> list[WordTime]:
    """`_align` over the words' spoken parts: a hyphenated word ("cruelty-free") is said
    with a pause at its hyphen, so its parts are aligned as words and joined again."""
    parts: list[tuple[str, int]] = []
    owner: list[int] = []
    for index, (word, scene) in enumerate(words):
        pieces = [piece for piece in word.split("-") if piece] or [word]
        parts.extend((piece, scene) for piece in pieces)
        owner.extend([index] * len(pieces))
    timed = _align(voice, rate, parts, offset_s)
    joined: list[WordTime] = []
    for index, (word, scene) in enumerate(words):
        mine = [t for t, o in zip(timed, owner, strict=True) if o == index]
        if mine:
            joined.append(WordTime(word, mine[0].start_s, mine[-1].end_s, scene))
    return joined


def _align(
    voice: np.ndarray | Path,
    rate: int,
    words: list[tuple[str, int]],
    offset_s: float = 0.0,
) -> list[WordTime]:
    """Start and end of each script word (word, scene index) in the voice-over, in seconds
    plus `offset_s` (where the voice starts in the video). A Path is decoded at 48 kHz
    (`rate` is then ignored); an array is (n,) or (channels, n) at `rate`.

    Voiced frames are those within 35 dB of the speech level (the 95th percentile of the
    10 ms levels). Candidate boundaries are the pauses (runs of unvoiced frames >= 30 ms)
    and the local minima of the 30 ms-smoothed level. A dynamic programme picks N-1 of
    them minimising, over words, the squared log-ratio of voiced length to expected
    length (the word's share of all voiced time, by `spoken_weight`), plus a cost for a
    boundary at a loud minimum, minus a bonus for each pause used (an unused pause is a
    pause inside a word, which is rare). A word then spans the voiced frames between
    its boundaries.

    Measured (tests/unit/test_speech.py): on the fake Replicate speech (one 67 ms tone or
    noise segment per character, silence for spaces and punctuation) the start error is
    mean ~5 ms, p95 ~10 ms over a 3-scene, 20-word script."""
    if not words:
        return []
    mono, rate = _mono(voice, rate)
    level = energy_db(mono, rate)
    frames = level.size
    speech = float(np.percentile(level, 95))
    voiced = level > speech - _VOICED_DB
    if speech < _SILENT_DBFS or not voiced.any():
        return _spread(words, 0.0, frames * HOP_S, offset_s)
    weights = np.array([spoken_weight(w) for w, _ in words])
    expected = voiced.sum() * weights / weights.sum()
    positions, costs = _candidates(level, voiced, speech)
    if positions.size < len(words) - 1:
        # Fewer dips than words (a very fast or a continuous sound): by length alone.
        talking = np.flatnonzero(voiced)
        return _spread(words, talking[0] * HOP_S, (talking[-1] + 1) * HOP_S, offset_s)
    bounds = _best_bounds(voiced, positions, costs, expected, frames)
    out = []
    for (word, scene), a, b in zip(words, bounds[:-1], bounds[1:], strict=True):
        inside = np.flatnonzero(voiced[a:b])
        start, end = (a + inside[0], a + inside[-1] + 1) if inside.size else (a, b)
        out.append(
            WordTime(
                word, round(start * HOP_S + offset_s, 3), round(end * HOP_S + offset_s, 3), scene
            )
        )
    return out


def _candidates(
    level: np.ndarray, voiced: np.ndarray, speech: float
) -> tuple[np.ndarray, np.ndarray]:
    """Boundary frames and their costs: the centre of each pause (a bonus, negative, by
    its length) and each local minimum of the smoothed level inside speech (a cost
    rising with how loud the minimum is)."""
    positions: list[int] = []
    costs: list[float] = []
    min_pause = round(_MIN_PAUSE_S / HOP_S)
    for a, b in _runs(~voiced):
        if b - a >= min_pause or a == 0 or b == voiced.size:
            positions.append((a + b) // 2)
            costs.append(-_PAUSE_BONUS * min(b - a, 30) / 10)
    from scipy.ndimage import uniform_filter1d  # lazily: scipy is heavy

    smooth = uniform_filter1d(level, 3, mode="nearest")
    floor = speech - _VOICED_DB
    inner = np.flatnonzero(
        (smooth[1:-1] <= smooth[:-2]) & (smooth[1:-1] < smooth[2:]) & voiced[1:-1]
    )
    for frame in inner + 1:
        depth = (smooth[frame] - floor) / _VOICED_DB
        positions.append(int(frame))
        costs.append(_DIP_COST * float(np.clip(depth, 0.0, 1.0)))
    order = np.argsort(positions, kind="stable")
    return np.asarray(positions, dtype=np.int64)[order], np.asarray(costs)[order]


def _best_bounds(
    voiced: np.ndarray,
    positions: np.ndarray,
    costs: np.ndarray,
    expected: np.ndarray,
    frames: int,
) -> list[int]:
    """N+1 frame bounds (0, chosen candidates..., frames) minimising the alignment cost."""
    count = expected.size
    points = np.concatenate([[0], positions, [frames]])
    point_cost = np.concatenate([[0.0], costs, [0.0]])
    before = np.concatenate([[0], np.cumsum(voiced)])
    have = before[points]  # voiced frames before each point
    size = points.size
    # length[j, k]: voiced frames between point j and point k (k > j).
    length = have[None, :] - have[:, None]
    later = np.triu(np.ones((size, size), dtype=bool), k=1)
    best = np.full(size, np.inf)
    best[0] = 0.0
    choice = np.zeros((count, size), dtype=np.int64)
    for i in range(count):
        ratio = np.log((np.maximum(length, 0) + 0.5) / (expected[i] + 0.5))
        total = best[:, None] + _LENGTH_COST * ratio**2
        total[~later] = np.inf
        if i < count - 1:
            total[:, -1] = np.inf  # only the last word may end at the end
        choice[i] = np.argmin(total, axis=0)
        best = total[choice[i], np.arange(size)] + point_cost
    bounds = [size - 1]
    for i in range(count - 1, -1, -1):
        bounds.append(int(choice[i, bounds[-1]]))
    return [int(points[p]) for p in reversed(bounds)]


def _spread(
    words: list[tuple[str, int]], start_s: float, end_s: float, offset_s: float
) -> list[WordTime]:
    """Words laid end to end over [start_s, end_s] by `spoken_weight` (no voice found)."""
    weights = np.array([spoken_weight(w) for w, _ in words])
    edges = start_s + (end_s - start_s) * np.concatenate([[0], np.cumsum(weights)]) / weights.sum()
    return [
        WordTime(w, round(float(a) + offset_s, 3), round(float(b) + offset_s, 3), scene)
        for (w, scene), a, b in zip(words, edges[:-1], edges[1:], strict=True)
    ]


# ------------------------------------------------------------------------------ reading


READING_WPS = 2.75  # words a second for an average (5-letter) word
LEAD_IN_S = 0.25  # the eye needs a moment after a cut before it reads
TAIL_S = 0.2  # the last word is finished before the next cut
_SENTENCE_PAUSE_S = 0.2


def reading_times(scenes: list[tuple[int, float, float, str]]) -> list[WordTime]:
    """Words of each scene's caption (scene index, start_s, end_s, text) timed for reading
    without a voice: about 2.75 words a second, a 5-letter word 1/2.75 s and longer words
    a little longer, a short pause after a sentence, starting a moment after the cut and
    all finished before the scene ends (a long script is compressed to fit)."""
    out: list[WordTime] = []
    for scene, start, end, text in scenes:
        words = text.split()
        if not words:
            continue
        span = end - start
        lead = min(LEAD_IN_S, 0.1 * span)
        tail = min(TAIL_S, 0.1 * span)
        # (time to read the word, pause after it): a pause ends each inner sentence.
        paced = [
            (
                (0.75 + 0.05 * min(len(w), 15)) / READING_WPS,
                _SENTENCE_PAUSE_S if w[-1] in ".!?" and i < len(words) - 1 else 0.0,
            )
            for i, w in enumerate(words)
        ]
        room = span - lead - tail
        scale = min(1.0, room / sum(read + pause for read, pause in paced))
        at = start + lead
        for word, (read, pause) in zip(words, paced, strict=True):
            out.append(WordTime(word, round(at, 3), round(at + read * scale, 3), scene))
            at += (read + pause) * scale
    return out
