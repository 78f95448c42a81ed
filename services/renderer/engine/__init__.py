"""The offline `local` video engine: approved storyboard frames in, a finished ad out.

Pure functions over files (no NATS, no database), safe to run in worker processes: every
argument and result is a picklable dataclass or path.

    render_clip(spec, n, clips/scene_n.mp4)   one scene, video only, checkpointable
    compose(spec, clips, final.mp4)           clips joined by stream copy + AAC soundtrack
    reframe(final.mp4, (1920, 1080), out)     another aspect, blurred-background pad
    poster_frame(final.mp4, poster.jpg)       a JPEG still
    probe(path)                               VideoInfo of any video
    clip_is_current(spec, n, path)            may a checkpointed clip be reused?
"""

from services.renderer.engine.audio import EncodedAudio
from services.renderer.engine.checkpoint import clip_fingerprint, clip_is_current
from services.renderer.engine.clip import render_clip
from services.renderer.engine.compose import compose, master_soundtrack
from services.renderer.engine.probe import poster_frame, probe
from services.renderer.engine.reframe import reframe
from services.renderer.engine.spec import RenderCanceled, RenderSpec, SceneInput, VideoInfo
from services.renderer.engine.spoken import spoken_words

__all__ = [
    "EncodedAudio",
    "RenderCanceled",
    "RenderSpec",
    "SceneInput",
    "VideoInfo",
    "clip_fingerprint",
    "clip_is_current",
    "compose",
    "master_soundtrack",
    "poster_frame",
    "probe",
    "reframe",
    "render_clip",
    "spoken_words",
]
