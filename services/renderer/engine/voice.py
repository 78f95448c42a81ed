"""The voice-over placed scene by scene: each scene's words start when its picture does.

A text-to-speech model reads the whole script in one go at its own pace, so its voice can
run longer than the ad and drift away from the scenes. The voice is aligned to the script
(`speech.align_words`), cut at the words where one scene's lines end and the next's begin,
and each scene's part is placed just after that scene's cut (or after the previous part);
a part up to `SPILL` longer than its scene runs on into the next, a longer one is sped up
with libav's `atempo` (pitch kept) up to `MAX_TEMPO`; what runs past the video is faded.
The words are timed again where they are placed, so captions follow the voice heard.
"""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from services.renderer.engine.audio import load_audio
from services.renderer.engine.encode import atomic_output
from services.renderer.engine.loudness import SAMPLE_RATE
from services.renderer.engine.spec import RenderSpec
from services.renderer.engine.speech import WordTime, align_words
from services.renderer.engine.timeline import build_timeline

MAX_TEMPO = 1.5
LEAD_S = 0.15  # after a cut, before the scene's first word
SPILL = 0.2  # how far past its scene's end a scene's voice may run before it is sped up
TAIL_S = 0.1  # after a scene's last word, before the next cut
_CHUNK = 4096
_FADE_S = 0.03
_MAX_VOICE_S = 300.0


def _drain(graph: av.filter.Graph, out: list[np.ndarray]) -> None:
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return
        out.append(frame.to_ndarray().astype(np.float32, copy=False))


def atempo(samples: np.ndarray, factor: float) -> np.ndarray:
    """(2, n) float32 at 48 kHz played `factor` times faster, pitch unchanged (libav)."""
    if abs(factor - 1.0) < 1e-3 or samples.shape[1] == 0:
        return samples
    graph = av.filter.Graph()
    source = graph.add_abuffer(
        format="fltp", sample_rate=SAMPLE_RATE, layout="stereo", time_base=Fraction(1, SAMPLE_RATE)
    )
    tempo = graph.add("atempo", f"{factor:.6f}")
    planar = graph.add("aformat", "sample_fmts=fltp:channel_layouts=stereo")
    sink = graph.add("abuffersink")
    source.link_to(tempo)
    tempo.link_to(planar)
    planar.link_to(sink)
    graph.configure()
    out: list[np.ndarray] = []
    for start in range(0, samples.shape[1], _CHUNK):
        chunk = np.ascontiguousarray(samples[:, start : start + _CHUNK], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        frame.time_base = Fraction(1, SAMPLE_RATE)
        graph.push(frame)
        _drain(graph, out)
    graph.push(None)
    _drain(graph, out)
    if not out:
        return np.zeros((2, 0), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(out, axis=1), dtype=np.float32)


def _fade_edges(piece: np.ndarray) -> np.ndarray:
    fade = min(piece.shape[1] // 4, round(_FADE_S * SAMPLE_RATE))
    if fade:
        ramp = np.linspace(0, 1, fade, dtype=np.float32)
        piece[:, :fade] *= ramp
        piece[:, -fade:] *= ramp[::-1]
    return piece


def arrange_voice(spec: RenderSpec) -> tuple[np.ndarray, list[WordTime]]:
    """The voice-over laid out on the video's timeline ((2, n) float32, n = the video's
    length) and every spoken word's time in the video. Needs `spec.voiceover_path`."""
    if spec.voiceover_path is None:
        raise ValueError("arrange_voice needs a voice-over")
    timeline = build_timeline(spec)
    fps = spec.fps
    length = round(timeline.total_frames / fps * SAMPLE_RATE)
    voice = load_audio(spec.voiceover_path, _MAX_VOICE_S)
    script = [(word, scene.index) for scene in spec.scenes for word in scene.script.split()]
    timed = align_words(voice, SAMPLE_RATE, script) if script else []
    out = np.zeros((2, length), dtype=np.float32)
    placed: list[WordTime] = []
    cursor = 0.0  # where the previous scene's voice ended
    for scene, slot in zip(spec.scenes, timeline.slots, strict=True):
        words = [word for word in timed if word.scene == scene.index]
        if not words:
            continue
        first = max(0, round((words[0].start_s - 0.04) * SAMPLE_RATE))
        last = min(voice.shape[1], round((words[-1].end_s + 0.12) * SAMPLE_RATE))
        if last <= first:
            continue
        begin = max(cursor, slot.start / fps + (0.1 if slot.position == 0 else LEAD_S))
        room = max(0.2, slot.end / fps - TAIL_S - begin)
        spoken = (last - first) / SAMPLE_RATE
        # A part a little longer than its scene runs on into the next one's lead rather
        # than being stretched: atempo's overlap-add smears the short pauses between words
        # that both listeners and the word alignment rely on.
        # The last scene has no next one to run into: its part is fitted to the video.
        spill = SPILL if slot.position < len(timeline.slots) - 1 else 0.0
        factor = 1.0 if spoken <= room * (1 + spill) else min(MAX_TEMPO, spoken / room)
        piece = _fade_edges(atempo(voice[:, first:last].copy(), factor))
        at = round(begin * SAMPLE_RATE)
        fits = max(0, min(piece.shape[1], length - at))
        piece = _fade_edges(piece[:, :fits])
        out[:, at : at + fits] += piece
        stop = (at + fits) / SAMPLE_RATE
        cursor = stop + 0.05
        heard = []
        for word in words:
            start = begin + (word.start_s - first / SAMPLE_RATE) / factor
            if start < stop - 0.05:
                heard.append((word.word, scene.index))
        if heard:
            # Timed again on the audio as placed: stretching and cutting move words a
            # little, and the placed part is a clean, short stretch to align.
            segment = out[:, at : at + fits]
            placed.extend(align_words(segment, SAMPLE_RATE, heard, offset_s=at / SAMPLE_RATE))
    return out, placed


def place_voice(spec: RenderSpec, out: Path) -> list[WordTime]:
    """`arrange_voice`, written to `out` (16-bit WAV, atomically); the words' times."""
    samples, words = arrange_voice(spec)
    pcm = (np.clip(samples.T, -1.0, 1.0) * 32767).astype("<i2")
    with atomic_output(out) as tmp, wave.open(str(tmp), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(pcm.tobytes())
    return words
