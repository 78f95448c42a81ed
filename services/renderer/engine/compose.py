"""`compose`: the scene clips joined into the final MP4 with its soundtrack.

Video is not re-encoded: the clips' H.264 packets are copied one after another with their
timestamps shifted by the frames before them (all clips share one encoder configuration, so
one SPS/PPS describes them all; a clip that does not match is refused). The AAC track is
encoded first (to an in-memory MP4, decoded back and measured, re-encoded if the codec
pushed it over the true-peak or loudness limits: `audio.encode_mastered`), then its
packets are copied and interleaved with the video by time. The MP4 is written
with `movflags=+faststart` (moov before mdat) to a temp file, then renamed.
"""

from __future__ import annotations

import dataclasses
import io
import math
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av

from services.renderer.engine.audio import EncodedAudio, build_soundtrack, encode_mastered
from services.renderer.engine.encode import atomic_output
from services.renderer.engine.probe import probe
from services.renderer.engine.spec import RenderSpec, VideoInfo
from services.renderer.engine.timeline import build_timeline

Progress = Callable[[float], None]
if TYPE_CHECKING:
    Packet = av.Packet[Any]
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


def master_soundtrack(spec: RenderSpec) -> EncodedAudio:
    """The video's soundtrack, mastered and AAC-encoded (picklable: it can be made in a
    clip worker while the other clips encode, and handed to `compose`)."""
    timeline = build_timeline(spec)
    soundtrack = build_soundtrack(spec, timeline.total_frames / spec.fps)
    return encode_mastered(soundtrack)


def compose(
    spec: RenderSpec,
    clip_paths: list[Path],
    out_path: Path,
    progress: Progress | None = None,
    audio: EncodedAudio | None = None,
) -> VideoInfo:
    """Join `clip_paths` (one per scene, in order, from `render_clip`) and the soundtrack
    (`audio` from `master_soundtrack`, else made here) into `out_path`. `progress(fraction)`
    is called at least every ~0.5 s of work. ValueError if a clip is missing, has the wrong
    frame count or a different encoding."""
    timeline = build_timeline(spec)
    if len(clip_paths) != len(timeline.slots):
        raise ValueError(f"expected {len(timeline.slots)} clips, got {len(clip_paths)}")
    report = _Reporter(progress)
    report(0.0, force=True)
    encoded = audio if audio is not None else master_soundtrack(spec)
    report(0.3)
    out_path = Path(out_path)
    options = {"movflags": "+faststart"}
    with (
        atomic_output(out_path) as tmp,
        av.open(str(tmp), "w", format="mp4", options=options) as out,
        av.open(io.BytesIO(encoded.data), "r") as audio_in,
    ):
        with av.open(str(clip_paths[0])) as first:
            template = first.streams.video[0]
            video = out.add_stream_from_template(template)
            extradata = template.codec_context.extradata
        audio_template = audio_in.streams.audio[0]
        audio_out = out.add_stream_from_template(audio_template)
        muxer = _Interleaver(out, _audio_packets(audio_in, audio_template, audio_out))
        offset = 0
        for number, (slot, path) in enumerate(zip(timeline.slots, clip_paths, strict=True), 1):
            copied = _copy_clip(Path(path), number, extradata, offset, spec.fps, video, muxer)
            if copied != slot.frames:
                raise ValueError(
                    f"clip {number} ({Path(path).name}) has {copied} frames, the "
                    f"storyboard needs {slot.frames}; render it again"
                )
            offset += slot.frames
            report(0.3 + 0.65 * offset / timeline.total_frames)
        muxer.finish()
    report(1.0, force=True)
    return dataclasses.replace(
        probe(out_path),
        loudness_lufs=_figure(encoded.loudness_lufs),
        true_peak_dbtp=_figure(encoded.true_peak_dbtp),
    )


def _figure(value: float) -> float | None:
    """A measured level for the report; None for a silent track (-inf)."""
    return round(value, 2) if math.isfinite(value) else None


def _audio_packets(
    container: av.container.InputContainer, stream: av.AudioStream, target: av.AudioStream
) -> list[Packet]:
    """The encoded AAC packets, re-addressed to the output's audio stream."""
    packets = []
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        packet.stream = target
        packets.append(packet)
    return packets


class _Interleaver:
    """Muxes the kept audio packets in time order between the video packets."""

    def __init__(self, out: av.container.OutputContainer, audio: list[Packet]) -> None:
        self.out = out
        self.pending = iter(audio)
        self.next: Packet | None = next(self.pending, None)

    def video(self, packet: Packet, at: float | None) -> None:
        while at is not None and self.next is not None and _seconds(self.next) <= at:
            self._audio()
        self.out.mux(packet)

    def finish(self) -> None:
        while self.next is not None:
            self._audio()

    def _audio(self) -> None:
        assert self.next is not None
        self.out.mux(self.next)
        self.next = next(self.pending, None)


def _copy_clip(
    path: Path,
    number: int,
    extradata: bytes | None,
    offset_frames: int,
    fps: int,
    video: av.VideoStream,
    muxer: _Interleaver,
) -> int:
    """Copy one clip's video packets, shifted `offset_frames` later; returns how many."""
    copied = 0
    with av.open(str(path)) as clip:
        stream = clip.streams.video[0]
        if stream.codec_context.extradata != extradata:
            raise ValueError(
                f"clip {number} ({path.name}) was encoded with different settings than "
                "clip 1; render it again"
            )
        time_base = stream.time_base
        assert time_base is not None
        shift = round(Fraction(offset_frames, fps) / time_base)
        for packet in clip.demux(stream):
            if packet.size == 0:
                continue
            at = None
            if packet.pts is not None:
                packet.pts += shift
            if packet.dts is not None:
                packet.dts += shift
                at = float(packet.dts * time_base)
            packet.stream = video
            muxer.video(packet, at)
            copied += 1
    return copied


def _seconds(packet: Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    assert stamp is not None and packet.time_base is not None
    return float(stamp * packet.time_base)
