"""The spoken words of a render with their times: aligned to the voice-over when there is
one, else at reading speed within each scene (`speech`). The caption layer and the caption
files both read them from `RenderSpec.words`."""

from __future__ import annotations

from services.renderer.engine.loudness import SAMPLE_RATE
from services.renderer.engine.spec import RenderSpec
from services.renderer.engine.speech import WordTime, align_words, reading_times
from services.renderer.engine.timeline import build_timeline


def spoken_words(spec: RenderSpec) -> list[WordTime]:
    if spec.voiceover_path is not None:
        words = [(word, scene.index) for scene in spec.scenes for word in scene.script.split()]
        return align_words(spec.voiceover_path, SAMPLE_RATE, words)
    timeline = build_timeline(spec)
    fps = spec.fps
    return reading_times(
        [
            (scene.index, slot.start / fps, slot.end / fps, scene.script)
            for scene, slot in zip(spec.scenes, timeline.slots, strict=True)
        ]
    )
