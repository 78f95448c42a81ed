"""`compose`: the scene clips joined into the final MP4 with its soundtrack.

Video is not re-encoded: the clips' H.264 packets are copied one after another with their
timestamps shifted by the frames before them (all clips share one encoder configuration, so
one SPS/PPS describes them all; a clip that does not match is refused). The AAC track is
encoded first, kept as packets and interleaved with the video by time. The MP4 is written
with `movflags=+faststart` (moov before mdat) to a temp file, then renamed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av

from services.renderer.engine.audio import AAC_BITRATE, build_soundtrack, encode_aac
from services.renderer.engine.encode import atomic_output
from services.renderer.engine.loudness import SAMPLE_RATE
from services.renderer.engine.probe import probe
from services.renderer.engine.spec import RenderSpec, VideoInfo
from services.renderer.engine.timeline import build_timeline

Progress = Callable[[float], None]
_PROGRESS_EVERY_S = 0.5


class _Reporter:
    def __init__(self, callback: Progress | None) -> None:
        self.callback = callback
        self.last = 0.0

    def __call__(self, fraction: float, force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        if force or now - self.last >= _PROGRESS_EVERY_S:
            self.last = now
            self.callback(min(1.0, max(0.0, fraction)))


def compose(
    spec: RenderSpec,
    clip_paths: list[Path],
    out_path: Path,
    progress: Progress | None = None,
) -> VideoInfo:
    """Join `clip_paths` (one per scene, in order, from `render_clip`) and the soundtrack
    into `out_path`. `progress(fraction)` is called at least every ~0.5 s of work.
    ValueError if a clip is missing, has the wrong frame count or a different encoding."""
    timeline = build_timeline(spec)
    if len(clip_paths) != len(timeline.slots):
        raise ValueError(f"expected {len(timeline.slots)} clips, got {len(clip_paths)}")
    report = _Reporter(progress)
    report(0.0, force=True)
    frame_time = Fraction(1, spec.fps)
    duration = timeline.total_frames * float(frame_time)
    soundtrack = build_soundtrack(spec, duration)
    report(0.15)
    out_path = Path(out_path)
    with atomic_output(out_path) as tmp:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            with av.open(str(clip_paths[0])) as first:
                template = first.streams.video[0]
                video = out.add_stream_from_template(template)
                extradata = template.codec_context.extradata
            audio = out.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
            audio.codec_context.bit_rate = AAC_BITRATE
            packets = encode_aac(soundtrack, audio)
            del soundtrack
            report(0.3)
            pending = iter(packets)
            next_audio = next(pending, None)
            offset_frames = 0
            for number, (slot, path) in enumerate(zip(timeline.slots, clip_paths, strict=True), 1):
                copied = 0
                with av.open(str(path)) as clip:
                    stream = clip.streams.video[0]
                    if stream.codec_context.extradata != extradata:
                        raise ValueError(
                            f"clip {number} ({Path(path).name}) was encoded with different "
                            "settings than clip 1; render it again"
                        )
                    time_base = stream.time_base
                    assert time_base is not None
                    shift = round(offset_frames * frame_time / time_base)
                    for packet in clip.demux(stream):
                        if packet.size == 0:
                            continue
                        if packet.pts is not None:
                            packet.pts += shift
                        if packet.dts is not None:
                            packet.dts += shift
                            at = float(packet.dts * time_base)
                            while next_audio is not None and _seconds(next_audio) <= at:
                                out.mux(next_audio)
                                next_audio = next(pending, None)
                        packet.stream = video
                        out.mux(packet)
                        copied += 1
                        report(0.3 + 0.65 * (offset_frames + copied) / timeline.total_frames)
                if copied != slot.frames:
                    raise ValueError(
                        f"clip {number} ({Path(path).name}) has {copied} frames, the "
                        f"storyboard needs {slot.frames}; render it again"
                    )
                offset_frames += slot.frames
            while next_audio is not None:
                out.mux(next_audio)
                next_audio = next(pending, None)
    report(1.0, force=True)
    return probe(out_path)


def _seconds(packet: av.Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    assert stamp is not None and packet.time_base is not None
    return float(stamp * packet.time_base)
