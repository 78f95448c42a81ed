"""Clip checkpoints: a fingerprint of everything that decides a clip's pixels, stored in
the clip file, so a redelivered job reuses a clip only if it would render the same one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from services.renderer.engine.probe import probe, read_comment, video_frame_count
from services.renderer.engine.spec import ENGINE_VERSION, RenderSpec, file_digest
from services.renderer.engine.timeline import build_timeline

_PREFIX = "reelsmith-clip:"


def clip_fingerprint(spec: RenderSpec, scene_index: int) -> str:
    """Identity of clip `scene_index` (1-based): engine version, output settings, the
    timeline (all durations), and the content of the scene and its neighbours (whose
    pictures appear in its transitions, video clips included), the logo and the font."""
    position = scene_index - 1
    neighbours = range(max(0, position - 1), min(len(spec.scenes), position + 2))
    facts = {
        "engine": ENGINE_VERSION,
        "size": spec.size,
        "fps": spec.fps,
        "crf": spec.crf,
        "preset": spec.preset,
        "variation": spec.variation,
        "seed": spec.seed,
        "colors": spec.colors,
        "cta": spec.call_to_action,
        "transition_s": spec.transition_s,
        "platform": spec.platform,
        "style": spec.style,
        "product": file_digest(spec.product_path),
        "words": [(w.word, round(w.start_s, 3), round(w.end_s, 3)) for w in spec.words],
        "scene": scene_index,
        "durations": [s.duration_s for s in spec.scenes],
        "scenes": [_scene_facts(spec, i) for i in neighbours],
        "logo": file_digest(spec.logo_path),
        "font": file_digest(spec.font_path),
    }
    if spec.ai_label:  # absent without the label: older fingerprints stay
        facts["ai_label"] = True
    encoded = json.dumps(facts, sort_keys=True, default=str).encode()
    return _PREFIX + hashlib.sha256(encoded).hexdigest()[:32]


def _scene_facts(spec: RenderSpec, position: int) -> dict[str, str]:
    scene = spec.scenes[position]
    facts = {
        "caption": scene.caption,
        "beat": scene.beat,
        "frame": file_digest(scene.frame_path),
        "product": str(scene.shows_product),
    }
    if scene.video_path is not None:  # absent for still scenes: their fingerprints stay
        facts["video"] = file_digest(scene.video_path)
    if scene.disclaimers:  # likewise absent for scenes without legal lines
        facts["disclaimers"] = "\n".join(scene.disclaimers)
    return facts


def clip_is_current(spec: RenderSpec, scene_index: int, path: Path) -> bool:
    """True if `path` is a complete clip that `render_clip(spec, scene_index, ...)` would
    produce now: same fingerprint, size, codec and frame count. Never raises for a bad
    or missing file (it just is not current)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        if read_comment(path) != clip_fingerprint(spec, scene_index):
            return False
        info = probe(path)
        slot = build_timeline(spec).slots[scene_index - 1]
        return (
            (info.width, info.height) == spec.size
            and info.video_codec == "h264"
            and video_frame_count(path) == slot.frames
        )
    except (ValueError, OSError, IndexError):
        return False
