"""The synthesized music bed: a four-chord loop with pads, bass and a soft kick, arranged
per variation (more pulse, an arpeggio, claps and hats, bells) with tempo, key and chord
progression chosen from the job seed. 48 kHz stereo float32, in the -1..1 range; loudness
is set by the caller (`audio`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from services.renderer.engine.looks import look_for, rng
from services.renderer.engine.loudness import SAMPLE_RATE

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_PROGRESSIONS = {
    False: ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 3)),  # I-V-vi-IV, I-vi-IV-V, I-IV-V-IV
    True: ((0, 5, 2, 6), (0, 3, 6, 5), (0, 5, 3, 4)),  # i-VI-III-VII, i-iv-VII-VI, i-VI-iv-v
}
_ROOTS = (52, 53, 55, 57, 58, 60)  # E3 .. C4


@dataclass(frozen=True)
class MusicPlan:
    tempo: float  # beats per minute
    root: int  # MIDI note of the key's tonic
    minor: bool
    progression: tuple[int, ...]  # scale degrees, one chord per bar
    arrangement: str  # pads | pulse | arp | bounce | airy


# Tempo range (bpm) of each arrangement: the beat grid picks a tempo inside it.
TEMPO_RANGES: dict[str, tuple[float, float]] = {
    "pads": (84.0, 96.0),
    "pulse": (112.0, 124.0),
    "arp": (100.0, 112.0),
    "bounce": (96.0, 108.0),
    "airy": (76.0, 88.0),
}


def tempo_range(variation: int) -> tuple[float, float]:
    return TEMPO_RANGES[look_for(variation).music]


def music_plan(seed: str, variation: int, tempo_bpm: float | None = None) -> MusicPlan:
    """The arrangement, key and chords of the bed; `tempo_bpm` (the scene cuts' beat grid,
    see `beats.grid_for_spec`) replaces the seed's tempo so the beats land on the grid."""
    arrangement = look_for(variation).music
    chooser = rng("music", seed, variation)
    minor = chooser.random() < (0.6 if arrangement in ("pads", "airy") else 0.3)
    low, high = TEMPO_RANGES[arrangement]
    # Drawn even when overridden, so the key and chords stay those of the seed.
    seed_tempo = float(chooser.randint(int(low), int(high)))
    return MusicPlan(
        tempo=seed_tempo if tempo_bpm is None else float(tempo_bpm),
        root=chooser.choice(_ROOTS),
        minor=minor,
        progression=chooser.choice(_PROGRESSIONS[minor]),
        arrangement=arrangement,
    )


def _freq(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _chord(plan: MusicPlan, degree: int) -> list[int]:
    scale = _MINOR if plan.minor else _MAJOR
    notes = []
    for step in (0, 2, 4):
        index = degree + step
        notes.append(plan.root + scale[index % 7] + 12 * (index // 7))
    return notes


class _Track:
    def __init__(self, length: int) -> None:
        self.left = np.zeros(length, dtype=np.float32)
        self.right = np.zeros(length, dtype=np.float32)
        self.length = length

    def add(
        self, start: int, signal: np.ndarray, pan: float = 0.0, right: np.ndarray | None = None
    ) -> None:
        """Mix `signal` in at sample `start` (equal-power pan -1..1, or a separate right)."""
        if start >= self.length:
            return
        end = min(self.length, start + signal.size)
        n = end - start
        if right is None:
            angle = (pan + 1) * np.pi / 4
            self.left[start:end] += signal[:n] * np.float32(np.cos(angle) * np.sqrt(2))
            self.right[start:end] += signal[:n] * np.float32(np.sin(angle) * np.sqrt(2))
        else:
            self.left[start:end] += signal[:n]
            self.right[start:end] += right[:n]


def _envelope(n: int, attack: float, release: float) -> np.ndarray:
    env = np.ones(n, dtype=np.float32)
    a, r = min(n, round(attack * SAMPLE_RATE)), min(n, round(release * SAMPLE_RATE))
    if a:
        env[:a] = np.sin(np.linspace(0, np.pi / 2, a, dtype=np.float32)) ** 2
    if r:
        env[n - r :] *= np.cos(np.linspace(0, np.pi / 2, r, dtype=np.float32)) ** 2
    return env


_TABLE_BITS = 12
_TABLE_SIZE = 1 << _TABLE_BITS


@lru_cache(maxsize=1)
def _warm_saw() -> np.ndarray:
    """One period of a band-limited, gently low-passed sawtooth (12 harmonics): bright
    enough to carry on phone speakers, soft enough to sit under a voice."""
    phase = np.arange(_TABLE_SIZE) / _TABLE_SIZE * 2 * np.pi
    wave = sum(np.sin(n * phase) / n * np.exp(-n / 7) for n in range(1, 13))
    table: np.ndarray = (wave / np.abs(wave).max()).astype(np.float32)
    return table


def _pad_voice(freq: float, n: int, detune: float) -> np.ndarray:
    # Wavetable lookup with a 32-bit phase accumulator: the product wraps modulo 2**32,
    # which is exactly the phase wrapping, and its top 12 bits index the table.
    step = np.uint32(round(freq * (1 + detune) / SAMPLE_RATE * 2**32) % 2**32)
    phase = np.arange(n, dtype=np.uint32) * step
    voice: np.ndarray = _warm_saw()[phase >> np.uint32(32 - _TABLE_BITS)]
    return voice


def _pluck(freq: float, seconds: float, decay: float, bright: float) -> np.ndarray:
    n = round(seconds * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
    phase = 2 * np.pi * freq * t
    tone = np.sin(phase) + bright * np.sin(3 * phase) / 3 + bright * 0.5 * np.sin(2 * phase)
    env = np.exp(-t / decay) * np.minimum(1.0, t / 0.004)
    out: np.ndarray = (tone * env).astype(np.float32)
    return out


def _kick() -> np.ndarray:
    n = round(0.38 * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
    # A pitch drop from ~130 Hz to 46 Hz plus a short click, so it is heard on small speakers.
    phase = 2 * np.pi * (46 * t + 85 * 0.04 * (1 - np.exp(-t / 0.04)))
    env = np.exp(-t / 0.15) * np.minimum(1.0, t / 0.003)
    click = np.sin(2 * np.pi * 1800 * t) * np.exp(-t / 0.004) * 0.25
    out: np.ndarray = (np.sin(phase) * env + click).astype(np.float32)
    return out


def _noise_hit(
    noise: np.random.Generator, seconds: float, decay: float, colour: float
) -> np.ndarray:
    n = round(seconds * SAMPLE_RATE)
    white = noise.standard_normal(n + 1).astype(np.float32)
    # colour 1 = first difference (bright hat); lower values keep more body (clap).
    hit = white[1:] - colour * white[:-1]
    t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
    return (hit * np.exp(-t / decay) * 0.5).astype(np.float32)


def synthesize(plan: MusicPlan, duration_s: float, seed: str = "") -> np.ndarray:
    """`duration_s` of music as (2, n) float32."""
    length = max(1, round(duration_s * SAMPLE_RATE))
    track = _Track(length)
    beat = round(60.0 / plan.tempo * SAMPLE_RATE)
    bar = beat * 4
    # Bars start at exact multiples of the (fractional) bar length, so rounding one beat
    # to whole samples never accumulates: every downbeat sits on the beat grid.
    bar_samples = 240.0 / plan.tempo * SAMPLE_RATE
    noise = np.random.default_rng(int.from_bytes(seed.encode()[:8].ljust(8, b"\0"), "big"))
    kind = plan.arrangement
    bars = int(length // bar_samples) + 2
    for index in range(bars):
        start = round(index * bar_samples)
        chord = _chord(plan, plan.progression[index % len(plan.progression)])
        _pads(track, plan, chord, start, bar, kind)
        _bass(track, chord[0] - 12, start, beat, kind)
        _drums(track, noise, start, beat, kind, index)
        if kind in ("arp", "airy"):
            _melody(track, chord, start, beat, kind)
    out = np.stack([track.left, track.right])
    fade_in = min(length, round(0.25 * SAMPLE_RATE))
    fade_out = min(length, round(min(1.5, duration_s / 4) * SAMPLE_RATE))
    if fade_in:
        out[:, :fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)
    if fade_out:
        out[:, length - fade_out :] *= np.cos(np.linspace(0, np.pi / 2, fade_out, dtype=np.float32))
    return out


def _pads(
    track: _Track, plan: MusicPlan, chord: list[int], start: int, bar: int, kind: str
) -> None:
    release = 0.45
    n = bar + round(release * SAMPLE_RATE)
    attack = 0.9 if kind == "airy" else 0.25
    env = _envelope(n, attack, release)
    level = {"pads": 0.11, "pulse": 0.1, "arp": 0.09, "bounce": 0.09, "airy": 0.1}[kind]
    if kind == "pulse":
        # Sidechain-style pumping on every beat: the pad breathes with the kick.
        beat = bar // 4
        t = (np.arange(n) % beat) / beat
        env = env * (0.55 + 0.45 * np.minimum(1.0, t / 0.45)).astype(np.float32)
    voices = [*chord, chord[0] + 12] if kind != "pulse" else chord
    for i, note in enumerate(voices):
        freq = _freq(note)
        left = _pad_voice(freq, n, -0.0018 - 0.0004 * i) * env * level
        right = _pad_voice(freq, n, 0.0018 + 0.0004 * i) * env * level
        track.add(start, left.astype(np.float32), right=right.astype(np.float32))


def _bass(track: _Track, note: int, start: int, beat: int, kind: str) -> None:
    freq = _freq(note)
    if kind == "pulse":
        hits = [(i * beat + beat // 2, 0.14) for i in range(4)]  # off-beat eighths
    elif kind == "bounce":
        hits = [(0, 0.3), (beat * 3 // 2, 0.2), (beat * 2, 0.26), (beat * 3, 0.2)]
    elif kind == "airy":
        hits = [(0, 0.2)]
    else:
        hits = [(0, 0.2), (beat * 2, 0.17)]
    for offset, level in hits:
        track.add(start + offset, _pluck(freq, 0.9, 0.45, 0.25) * level)


def _drums(
    track: _Track, noise: np.random.Generator, start: int, beat: int, kind: str, bar_index: int
) -> None:
    kick = _kick()
    if kind in ("pulse", "arp"):
        kicks = range(4)
    elif kind == "airy":
        kicks = range(0, 4, 2) if bar_index % 2 == 0 else range(0)
    else:
        kicks = range(0, 4, 2)
    level = {"pulse": 0.3, "airy": 0.22}.get(kind, 0.32)
    for i in kicks:
        track.add(start + i * beat, kick * level)
    if kind in ("pulse", "bounce", "arp"):
        for i in range(4):
            hat = _noise_hit(noise, 0.08, 0.022, 1.0) * (0.12 if kind == "pulse" else 0.08)
            track.add(start + i * beat + beat // 2, hat, pan=0.3)
    if kind == "bounce":
        for i in (1, 3):
            track.add(start + i * beat, _noise_hit(noise, 0.25, 0.07, 0.6) * 0.16, pan=-0.1)


def _melody(track: _Track, chord: list[int], start: int, beat: int, kind: str) -> None:
    if kind == "arp":
        pattern = [0, 1, 2, 1, 2, 3, 2, 1]
        notes = [*chord, chord[0] + 12]
        for i, step in enumerate(pattern):
            note = notes[step] + 12
            pan = -0.4 if i % 2 == 0 else 0.4
            track.add(start + i * beat // 2, _pluck(_freq(note), 0.5, 0.16, 0.6) * 0.07, pan=pan)
        return
    # airy: a few soft bell tones
    for i, step in enumerate((2, 0)):
        note = chord[step] + 24
        tone = _pluck(_freq(note), 1.6, 0.6, 0.1) * 0.05
        track.add(start + (i * 2 + 1) * beat, tone, pan=0.5 if i else -0.5)
