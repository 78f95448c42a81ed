"""The local video engine (services/renderer/engine): clips, composition, audio, exports,
and the text the design system puts on them.

Specs are built as the renderer builds them: no pictures (`frame_path=None`, the style
draws each plate), a product image, a style and platform, and the spoken words at reading
speed. Small sizes (180x320) and short scenes keep the file to a few seconds of encoding.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from services.renderer.engine import (
    RenderCanceled,
    RenderSpec,
    SceneInput,
    clip_fingerprint,
    clip_is_current,
    compose,
    poster_frame,
    probe,
    reframe,
    render_clip,
    spoken_words,
)
from services.renderer.engine.audio import TARGET_LUFS, build_soundtrack, voice_activity
from services.renderer.engine.loudness import integrated_loudness
from services.renderer.engine.report import layout_report
from services.renderer.engine.scaler import PaddedSource, SubpixelScaler, yuv420_planes
from services.renderer.engine.timeline import build_timeline
from services.renderer.engine.video import VideoSource
from shared.creative.layout import scene_layout

SIZE = (180, 320)
DURATIONS = (1.5, 1.2, 2.1)  # the end card long enough to hold its button 1.5 s
CAPTIONS = ("Meet the Lumen lamp", "Light that follows you", "Shop now at lumen.example")
SCRIPTS = (
    "Meet Lumen, the lamp that knows you.",
    "Its light follows you from room to room.",
    "Shop now at lumen dot example.",
)
BEATS = ("hook", "solution", "cta")
PRODUCT = (False, True, True)
COLORS = ("#1d3557", "#2a9d8f", "#a8dadc")  # no red: the test logo is pure red
ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------ helpers


def _write_product(path: Path) -> Path:
    """A cut-out product: a lamp-like shape on transparency."""
    image = Image.new("RGBA", (300, 400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((90, 60, 210, 360), 40, fill=(236, 236, 242, 255))
    draw.ellipse((100, 150, 200, 250), fill=(250, 190, 40, 255))
    draw.rectangle((60, 340, 240, 390), fill=(40, 44, 60, 255))
    image.save(path)
    return path


def _with_words(spec: RenderSpec) -> RenderSpec:
    return replace(spec, words=tuple(spoken_words(spec)))


def _spec(product: Path, **changes: object) -> RenderSpec:
    scenes = tuple(
        SceneInput(
            index=i + 1,
            frame_path=None,
            duration_s=DURATIONS[i],
            caption=CAPTIONS[i],
            beat=BEATS[i],
            script=SCRIPTS[i],
            shows_product=PRODUCT[i],
        )
        for i in range(3)
    )
    spec = RenderSpec(
        size=SIZE, scenes=scenes, seed="job-test", colors=COLORS, product_path=product,
        call_to_action="Shop now", platform="tiktok", style="bold",
    )  # fmt: skip
    return _with_words(replace(spec, **changes))  # type: ignore[arg-type]


def _render(spec: RenderSpec, folder: Path) -> tuple[list[Path], Path]:
    folder.mkdir(parents=True, exist_ok=True)
    clips = [folder / f"scene_{n}.mp4" for n in range(1, len(spec.scenes) + 1)]
    for n, clip in enumerate(clips, 1):
        render_clip(spec, n, clip)
    final = folder / "final.mp4"
    compose(spec, clips, final)
    return clips, final


def _gray_frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack(
            [f.to_ndarray(format="gray").astype(np.float32) for f in container.decode(video=0)]
        )


def _rgb_frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack(
            [f.to_ndarray(format="rgb24").astype(np.int16) for f in container.decode(video=0)]
        )


def _rgb_frame(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="rgb24").astype(np.int16)
    raise AssertionError(f"no frame {index}")


def _audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)


def _write_tone(path: Path, freq: float, seconds: float, rate: int = 44_100) -> None:
    t = np.arange(round(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    with av.open(str(path), "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        for start in range(0, tone.size, 1024):
            frame = av.AudioFrame.from_ndarray(
                tone[None, start : start + 1024], format="flt", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _dominant_hz(samples: np.ndarray, rate: int = 48_000) -> float:
    mono = samples.mean(axis=0)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.size)))
    return float(np.fft.rfftfreq(mono.size, 1 / rate)[int(np.argmax(spectrum))])


def _inset(box: tuple[int, int, int, int], dx: int, dy: int) -> tuple[slice, slice]:
    x0, y0, x1, y1 = box
    return slice(y0 + dy, y1 - dy), slice(x0 + dx, x1 - dx)


def _above_captions(spec: RenderSpec) -> tuple[slice, slice]:
    """The frame above the caption band (the band's pages and highlights change per word)."""
    top = scene_layout(build_timeline(spec).slots[0].design).captions[1]
    return slice(0, top - 2), slice(None)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("render")


@pytest.fixture(scope="module")
def product(work: Path) -> Path:
    return _write_product(work / "product.png")


@pytest.fixture(scope="module")
def logo(work: Path) -> Path:
    path = work / "logo.png"
    Image.new("RGBA", (64, 64), (255, 0, 0, 255)).save(path)
    return path


@pytest.fixture(scope="module")
def rendered(product: Path, logo: Path, work: Path) -> tuple[RenderSpec, list[Path], Path]:
    spec = _spec(product, logo_path=logo)
    clips, final = _render(spec, work / "v1")
    return spec, clips, final


@pytest.fixture(scope="module")
def video(rendered: tuple[RenderSpec, list[Path], Path]) -> np.ndarray:
    return _gray_frames(rendered[2])


# ------------------------------------------------------------------------------ the final video


def test_final_video_is_h264_aac_at_the_platform_format(
    rendered: tuple[RenderSpec, list[Path], Path],
) -> None:
    # Probe the composed file.
    spec, clips, final = rendered
    info = probe(final)
    # Video: H.264 yuv420p at the exact size and a constant 30 fps.
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height) == SIZE
    assert info.fps == pytest.approx(30.0)
    # Duration: the sum of the scene durations (cuts move to the beat grid, the end does
    # not), to the frame.
    assert abs(info.duration_s - sum(DURATIONS)) <= 1 / 30 + 1e-6
    with av.open(str(final)) as container:
        stream = container.streams.video[0]
        assert stream.frames == round(sum(DURATIONS) * 30)
        assert stream.average_rate == 30
    # Every clip holds exactly its slot's frames (so the stream-copy join is exact), and
    # lasts its scene's duration within a frame (a cut moves at most a few frames).
    timeline = build_timeline(spec)
    for slot, clip, seconds in zip(timeline.slots, clips, DURATIONS, strict=True):
        with av.open(str(clip)) as container:
            assert container.streams.video[0].frames == slot.frames
        assert probe(clip).video_codec == "h264" and probe(clip).pix_fmt == "yuv420p"
        assert abs(slot.frames / 30 - seconds) <= 0.25
    # Audio: AAC, 48 kHz stereo, as long as the video and not silent.
    assert info.audio_codec == "aac"
    samples = _audio(final)
    assert samples.shape[0] == 2
    assert samples.shape[1] / 48_000 == pytest.approx(sum(DURATIONS), abs=0.1)
    assert float(np.sqrt((samples**2).mean())) > 0.02


def test_compose_joins_the_clips_by_stream_copy(
    rendered: tuple[RenderSpec, list[Path], Path],
) -> None:
    # The final video's packets are the clips' packets, byte for byte, in order.
    _, clips, final = rendered

    def packets(path: Path) -> list[bytes]:
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(video=0) if p.size]

    joined = [p for clip in clips for p in packets(clip)]
    assert packets(final) == joined


def test_moov_box_precedes_mdat(rendered: tuple[RenderSpec, list[Path], Path]) -> None:
    # Walk the top-level MP4 boxes of the composed file.
    data = rendered[2].read_bytes()
    order, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        order.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    # faststart: the index comes before the media data.
    assert "moov" in order and "mdat" in order
    assert order.index("moov") < order.index("mdat")


def test_scenes_differ(video: np.ndarray) -> None:
    # A frame mid-scene 1 and mid-scene 3 (the end card) look clearly different.
    first, third = video[20], video[-15]
    assert float(np.abs(first - third).mean()) > 15


def test_motion_is_smooth(rendered: tuple[RenderSpec, list[Path], Path], video: np.ndarray) -> None:
    # Frames inside scene 1, after the headline has settled and before the transition,
    # in the plate above the headline (the fixed headline would dilute the measure, the
    # caption highlight jumps word by word).
    spec = rendered[0]
    slot = build_timeline(spec).slots[0]
    block = scene_layout(slot.design).headline
    assert block is not None and block.box[1] > 30
    area = slice(0, block.box[1] - 2), slice(None)
    first, last = 16, slot.end - slot.fade_out - 1
    assert last - first >= 12
    steps = np.array(
        [float(np.abs(video[i + 1][area] - video[i][area]).mean()) for i in range(first, last)]
    )
    # Every frame moves (no duplicated frames, as integer-stepped zooms produce) ...
    assert steps.min() > 0.02
    # ... by a small amount, and evenly: no jumps.
    assert steps.max() < 2.0
    assert steps.max() < 3.5 * np.median(steps)


def test_transition_blends_across_the_clip_boundary(
    rendered: tuple[RenderSpec, list[Path], Path], video: np.ndarray
) -> None:
    # Around the first scene boundary frames change gradually, not in one cut.
    spec = rendered[0]
    slot = build_timeline(spec).slots[1]
    b, h = slot.start, slot.fade_in
    assert h >= 4
    area = _above_captions(spec)
    steps = [float(np.abs(video[i + 1][area] - video[i][area]).mean()) for i in range(b - h, b + h)]
    whole = float(np.abs(video[b + h][area] - video[b - h - 1][area]).mean())
    assert max(steps) < 0.5 * whole


def test_logo_shows_on_the_end_card_only(rendered: tuple[RenderSpec, list[Path], Path]) -> None:
    # The solid red logo is drawn large on the end card, in its layout box; no other
    # scene shows it (it is no watermark).
    spec, _, final = rendered
    timeline = build_timeline(spec)

    def red(pixels: np.ndarray) -> int:
        return int(((pixels[..., 0] > 150) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)).sum())

    end = timeline.slots[2]
    frame = _rgb_frame(final, end.end - 5)
    logo_box = scene_layout(end.design).logo
    assert logo_box is not None
    assert red(frame[_inset(logo_box, 0, 0)]) > 100
    assert red(_rgb_frame(final, 20)) < 20


def test_variations_differ_visibly(
    product: Path, logo: Path, work: Path, video: np.ndarray
) -> None:
    # Render variation 2 of the same storyboard.
    spec = _spec(product, logo_path=logo, variation=2)
    _, final = _render(spec, work / "v2")
    other = _gray_frames(final)
    # Same length, visibly different pictures (motion, transitions).
    assert other.shape == video.shape
    diffs = [float(np.abs(other[i] - video[i]).mean()) for i in (15, 30, 45, 70)]
    assert np.mean(diffs) > 6
    # Different music too: the two soundtracks are far apart, sample by sample.
    mine, theirs = _audio(work / "v1" / "final.mp4"), _audio(final)
    n = min(mine.shape[1], theirs.shape[1])
    difference = float(np.sqrt(((mine[:, :n] - theirs[:, :n]) ** 2).mean()))
    assert difference > 0.8 * float(np.sqrt((mine**2).mean()))


# ------------------------------------------------------------------------------ text on screen


def test_text_is_on_the_very_first_frame(
    rendered: tuple[RenderSpec, list[Path], Path], tmp_path: Path
) -> None:
    # The same first clip rendered without a headline: frame 0 differs in the headline box
    # (the hook's text is there from the first frame, not faded in).
    spec, clips, _ = rendered
    scenes = list(spec.scenes)
    scenes[0] = replace(scenes[0], caption="")
    bare = replace(spec, scenes=tuple(scenes))
    render_clip(bare, 1, tmp_path / "bare.mp4")
    block = scene_layout(build_timeline(spec).slots[0].design).headline
    assert block is not None
    area = _inset(block.box, 0, 0)
    with_text = _rgb_frame(clips[0], 0)[area]
    without = _rgb_frame(tmp_path / "bare.mp4", 0)[area]
    assert float(np.abs(with_text - without).mean()) > 25
    # ... at full strength: as much white ink as once settled (the words may still be
    # rising into place, but none is faded out).
    settled = _rgb_frame(clips[0], 20)[area]

    def ink(pixels: np.ndarray) -> int:
        return int((pixels.min(axis=2) > 200).sum())

    assert ink(with_text) > 0.8 * ink(settled) > 0
    assert ink(without) < 0.05 * ink(settled)


def test_headline_is_fully_shown_by_0_4_s_after_a_cut(
    rendered: tuple[RenderSpec, list[Path], Path],
) -> None:
    spec, _, final = rendered
    frames = _rgb_frames(final)
    slot = build_timeline(spec).slots[1]
    block = scene_layout(slot.design).headline
    assert block is not None
    shown = slot.start + round(0.4 * spec.fps)
    late = slot.end - slot.fade_out - 2
    assert late > shown + 5
    for panel in block.line_boxes:
        inner = _inset(panel, 3, 2)  # inside the strip's rounded corners
        assert float(np.abs(frames[shown][inner] - frames[late][inner]).mean()) < 4
    # Just after the cut the words are still coming in.
    early = slot.start + 2
    whole = _inset(block.box, 3, 2)
    assert float(np.abs(frames[early][whole] - frames[late][whole]).mean()) > 8


def test_end_card_holds_the_button_at_least_1_5_s(
    rendered: tuple[RenderSpec, list[Path], Path],
) -> None:
    spec, _, final = rendered
    frames = _rgb_frames(final)
    end = build_timeline(spec).slots[-1]
    layout = scene_layout(end.design)
    assert layout.button is not None
    _, y0, _, y1 = layout.button
    radius = (y1 - y0) // 2
    inner = _inset(layout.button, radius, 2)
    last = len(frames) - 1
    span = round(1.5 * spec.fps)
    reference = frames[last][inner]
    for index in range(last - span, last + 1):
        assert float(np.abs(frames[index][inner] - reference).mean()) < 4, index
    # The button is there: its face is one flat colour (the label aside), unlike a plate.
    face = reference.reshape(-1, 3)
    assert float(np.median(np.abs(face - np.median(face, axis=0)).sum(axis=1))) < 12


@pytest.mark.parametrize("style", ["bold", "clean", "social"])
@pytest.mark.parametrize(
    ("size", "platform"),
    [((1080, 1920), "tiktok"), ((1080, 1080), "instagram_feed"), ((1920, 1080), "youtube")],
)
def test_layout_report_keeps_text_and_logo_in_the_safe_zone(
    style: str, size: tuple[int, int], platform: str, product: Path, logo: Path
) -> None:
    spec = _spec(product, logo_path=logo, size=size, platform=platform, style=style)
    report = layout_report(spec)
    x0, y0, x1, y1 = report["safe_zone"]
    kinds = {box["kind"] for box in report["boxes"]}
    assert {"headline", "caption", "cta", "logo"} <= kinds
    for box in report["boxes"]:
        if box["kind"] not in ("headline", "caption", "cta", "logo"):
            continue
        bx0, by0, bx1, by1 = box["box"]
        assert x0 <= bx0 < bx1 <= x1 and y0 <= by0 < by1 <= y1, box


# ------------------------------------------------------------------------------ clips


def test_cancel_file_stops_a_clip_and_leaves_nothing(product: Path, tmp_path: Path) -> None:
    # The cancel file exists before the clip starts.
    cancel = tmp_path / "cancel"
    cancel.touch()
    out = tmp_path / "clips" / "scene_1.mp4"
    # The render stops with RenderCanceled ...
    with pytest.raises(RenderCanceled):
        render_clip(_spec(product), 1, out, cancel_file=cancel)
    # ... and leaves neither the clip nor a temp file.
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


def test_checkpointed_clip_is_reused_only_for_the_same_spec(
    rendered: tuple[RenderSpec, list[Path], Path], tmp_path: Path
) -> None:
    spec, clips, _ = rendered
    # The clip just rendered is current for its own spec.
    assert clip_is_current(spec, 1, clips[0])
    assert clip_fingerprint(spec, 1) == clip_fingerprint(replace(spec), 1)
    # A changed neighbour headline, variation, style, platform, spoken words, product
    # image or a missing file makes it stale.
    scenes = list(spec.scenes)
    scenes[1] = replace(scenes[1], caption="Something else")
    assert not clip_is_current(replace(spec, scenes=tuple(scenes)), 1, clips[0])
    assert not clip_is_current(replace(spec, variation=3), 1, clips[0])
    assert not clip_is_current(replace(spec, style="clean"), 1, clips[0])
    assert not clip_is_current(replace(spec, platform="instagram_reel"), 1, clips[0])
    assert not clip_is_current(replace(spec, words=spec.words[1:]), 1, clips[0])
    other = _write_product(tmp_path / "other.png")
    Image.open(other).rotate(90).save(other)
    assert not clip_is_current(replace(spec, product_path=other), 1, clips[0])
    assert not clip_is_current(spec, 1, clips[0].with_name("missing.mp4"))


def test_compose_refuses_clips_in_the_wrong_order(
    rendered: tuple[RenderSpec, list[Path], Path], tmp_path: Path
) -> None:
    # Scenes 1 and 2 have different lengths: swapped clips do not fit the storyboard.
    spec, clips, _ = rendered
    out = tmp_path / "final.mp4"
    with pytest.raises(ValueError, match="frames"):
        compose(spec, [clips[1], clips[0], clips[2]], out)
    assert not out.exists()


# ------------------------------------------------------------------------------ audio


def test_uploaded_music_is_used_and_looped(
    rendered: tuple[RenderSpec, list[Path], Path], tmp_path: Path
) -> None:
    # A 1.5 s 440 Hz tone uploaded as music for a 4.8 s video.
    spec, clips, _ = rendered
    music = tmp_path / "music.wav"
    _write_tone(music, 440.0, 1.5)
    music_spec = replace(spec, music_path=music)
    # Uploaded music moves the cuts to its own beat grid: render the clips for it.
    if [s.frames for s in build_timeline(music_spec).slots] != [
        s.frames for s in build_timeline(spec).slots
    ]:
        clips, _ = _render(music_spec, tmp_path / "clips")
    out = tmp_path / "final.mp4"
    progress: list[float] = []
    compose(music_spec, clips, out, progress=progress.append)
    samples = _audio(out)
    # The soundtrack is the tone, looped to the end (before the fade-out).
    assert _dominant_hz(samples) == pytest.approx(440.0, abs=3)
    late = samples[:, int(3.2 * 48_000) : int(3.4 * 48_000)]
    assert float(np.sqrt((late**2).mean())) > 0.05
    # Progress went from 0 to 1.
    assert progress[0] == 0.0 and progress[-1] == 1.0


def test_soundtrack_loudness_and_voiceover_ducking(product: Path, tmp_path: Path) -> None:
    # The synthesized bed is mastered to the target (-14 LUFS) without clipping.
    spec = _spec(product)
    bed = build_soundtrack(spec, 6.0)
    assert integrated_loudness(bed) == pytest.approx(TARGET_LUFS, abs=1.0)
    assert float(np.abs(bed).max()) < 10 ** (-1 / 20) + 1e-3
    # A voiceover (a 300 Hz tone for the first 3 s) is detected and mixed on top.
    voice_file = tmp_path / "voice.wav"
    _write_tone(voice_file, 300.0, 3.0)
    mixed = build_soundtrack(replace(spec, voiceover_path=voice_file), 6.0)
    assert _dominant_hz(mixed[:, : 3 * 48_000]) == pytest.approx(300.0, abs=3)
    activity = voice_activity(mixed[:, : 3 * 48_000])
    assert activity[48_000:96_000].mean() > 0.9


# ------------------------------------------------------------------------------ exports


def test_reframe_to_landscape_keeps_duration_and_audio(
    rendered: tuple[RenderSpec, list[Path], Path], tmp_path: Path
) -> None:
    # Export the 9:16 video as 16:9.
    _, _, final = rendered
    out = tmp_path / "wide.mp4"
    info = reframe(final, (320, 180), out)
    # 16:9, same duration, audio kept.
    assert (info.width, info.height) == (320, 180)
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.duration_s == pytest.approx(probe(final).duration_s, abs=0.1)
    assert info.audio_codec == "aac"
    # The source sits in the middle; the sides are a darker blurred fill.
    frame = _gray_frames(out)[20]
    assert frame[:, 140:180].std() > frame[:, :40].std()


def test_poster_frame_is_a_jpeg(
    rendered: tuple[RenderSpec, list[Path], Path], tmp_path: Path
) -> None:
    # A poster from the default instant.
    out = poster_frame(rendered[2], tmp_path / "poster.jpg")
    with Image.open(out) as image:
        assert image.format == "JPEG"
        assert image.size == SIZE


# ------------------------------------------------------------------------------ building blocks


def test_subpixel_pan_moves_evenly() -> None:
    # A source with one bright vertical line, panned by 0.1 px per step.
    width, height = 64, 32
    source = np.full((height, width, 3), 30, dtype=np.uint8)
    source[:, 31] = 220
    padded = PaddedSource.from_image(Image.fromarray(source))
    scaler = SubpixelScaler(width, height)
    zoom = 1.1
    positions = []
    for step in range(12):
        x = 2.0 + step * 0.1
        buffer = scaler.render(padded, (x, 1.0, width / zoom, height / zoom))
        row = yuv420_planes(buffer, width, height)[0][height // 2].astype(np.float64)
        row -= np.median(row)  # the background level (limited-range luma)
        cols = np.arange(width)
        near = np.abs(cols - 31) < 6
        positions.append(float((cols[near] * row[near]).sum() / row[near].sum()))
    # The line's position in the output moves by 0.1 * zoom every step, within 0.05 px.
    steps = np.diff(positions)
    assert np.allclose(steps, -0.1 * zoom, atol=0.05)


def test_spec_validation(product: Path) -> None:
    # Odd sizes, bad colours and scenes out of order are refused up front.
    with pytest.raises(ValueError, match="even"):
        _spec(product, size=(181, 320))
    with pytest.raises(ValueError, match="hex"):
        _spec(product, colors=("not-a-colour",))
    scene = SceneInput(2, None, 1.0, "x", "hook")
    with pytest.raises(ValueError, match="index"):
        RenderSpec(size=SIZE, scenes=(scene,))


def test_memory_does_not_grow_with_clip_length(product: Path, tmp_path: Path) -> None:
    # The same one-scene clip rendered 2 s and 16 s long in a fresh process each.
    script = textwrap.dedent(
        """
        import re, sys
        from dataclasses import replace
        from pathlib import Path
        from services.renderer.engine import RenderSpec, SceneInput, render_clip, spoken_words
        seconds, product, out = float(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
        line = "Meet Lumen, the lamp that knows you. " * int(seconds)
        scene = SceneInput(1, None, seconds, "Meet the Lumen lamp", "hook", script=line,
                           shows_product=True)
        spec = RenderSpec(size=(360, 640), scenes=(scene,), product_path=product)
        spec = replace(spec, words=tuple(spoken_words(spec)))
        render_clip(spec, 1, out)
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would report the
        # forking pytest process's size once that is the larger.
        status = Path("/proc/self/status").read_text()
        print(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
        """
    )
    peaks = []
    for seconds in (2, 16):
        result = subprocess.run(
            [sys.executable, "-c", script, str(seconds), str(product), str(tmp_path / "m.mp4")],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            # Measure the engine, not pytest-cov's tracer that `make test` would inject.
            env={k: v for k, v in os.environ.items() if not k.startswith("COV_CORE")},
        )
        peaks.append(int(result.stdout.split()[-1]) / 1024)
    # Peak RSS is flat (frames stream through the encoder) and small.
    assert peaks[1] < peaks[0] + 15, peaks
    assert peaks[1] < 400, peaks


# ------------------------------------------------------------------------------ video scenes

VIDEO_SIZE = (320, 240)
VIDEO_FPS = 24


def _write_video(path: Path, seconds: float, shade: int = 230) -> Path:
    """Green bars scrolling 6 px a frame (H.264, a keyframe every 12 frames)."""
    width, height = VIDEO_SIZE
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=VIDEO_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 12
        columns = np.arange(width)
        for index in range(round(seconds * VIDEO_FPS)):
            bright = ((columns + 6 * index) // 20) % 2 == 0
            rgb = np.zeros((height, width, 3), np.uint8)
            rgb[:, :, 1] = np.where(bright, shade, 90)[None, :]
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _green(pixels: np.ndarray) -> float:
    """How much greener than red and blue a region is, on average."""
    rgb = pixels.reshape(-1, 3).astype(np.float32).mean(axis=0)
    return float(rgb[1] - (rgb[0] + rgb[2]) / 2)


def _video_spec(product: Path, clip: Path, **changes: object) -> RenderSpec:
    spec = _spec(product, **changes)
    scenes = list(spec.scenes)
    scenes[1] = replace(scenes[1], video_path=clip)
    return replace(spec, scenes=tuple(scenes))


def _footage_area(spec: RenderSpec, position: int) -> tuple[slice, slice]:
    """Where a scene with the product shows its picture: the layout's product box, above
    the caption band (where the box may reach behind the captions)."""
    layout = scene_layout(build_timeline(spec).slots[position].design)
    box = layout.product
    assert box is not None
    return _inset((box[0], box[1], box[2], min(box[3], layout.captions[1])), 4, 4)


@pytest.fixture(scope="module")
def video_rendered(product: Path, logo: Path, work: Path) -> tuple[RenderSpec, list[Path], Path]:
    clip = _write_video(work / "clip_2s.mp4", 2.0)
    spec = _video_spec(product, clip, logo_path=logo)
    clips, final = _render(spec, work / "video")
    return spec, clips, final


def test_video_scene_plays_its_footage(
    video_rendered: tuple[RenderSpec, list[Path], Path],
) -> None:
    spec, _, final = video_rendered
    slot = build_timeline(spec).slots[1]
    middle = _footage_area(spec, 1)
    mid = (slot.start + slot.end) // 2
    # The final video lasts as long as the storyboard.
    assert abs(probe(final).duration_s - spec.duration_s) <= 1 / 30 + 1e-6
    # Mid scene 2 shows the green footage; scene 1 does not.
    assert _green(_rgb_frame(final, mid)[middle]) > 80
    assert _green(_rgb_frame(final, 20)[middle]) < _green(_rgb_frame(final, mid)[middle]) - 40
    # The footage plays: successive frames change (24 fps footage at 30 fps repeats about
    # one frame in five), ...
    gray = _gray_frames(final)
    frames = range(slot.start + 14, slot.end - slot.fade_out - 1)
    steps = [float(np.abs(gray[i + 1] - gray[i])[middle].mean()) for i in frames]
    assert sum(step > 5 for step in steps) >= 0.6 * len(steps), steps
    # ... and the headline is drawn on it, on its dark strips.
    frame = _rgb_frame(final, mid)
    block = scene_layout(slot.design).headline
    assert block is not None
    for panel in block.line_boxes:
        assert _green(frame[_inset(panel, 3, 2)]) < 40


def test_video_scene_transitions_show_its_footage(
    video_rendered: tuple[RenderSpec, list[Path], Path],
) -> None:
    spec, clips, _ = video_rendered
    timeline = build_timeline(spec)
    # The last frame of clip 1 is halfway into the transition to the video; the first
    # frame of clip 3 is just past halfway out of it: both show some of its green.
    middle = _footage_area(spec, 1)
    last = timeline.slots[0].frames - 1
    assert (
        _green(_rgb_frame(clips[0], last)[middle]) > _green(_rgb_frame(clips[0], 20)[middle]) + 20
    )
    assert _green(_rgb_frame(clips[2], 0)[middle]) > _green(_rgb_frame(clips[2], 20)[middle]) + 20


def test_video_source_seeks_to_the_same_pictures_it_plays(tmp_path: Path) -> None:
    # A fresh decoder asked for a late instant (a neighbour's transition) seeks, and gives
    # exactly the picture sequential playback gives; an earlier instant seeks back, and an
    # instant past the end loops.
    clip = _write_video(tmp_path / "clip.mp4", 2.0)
    with VideoSource(clip, SIZE) as source:
        played = [source.render(i / 30) for i in range(60)]
        assert source.seeks == 1  # the one at opening: playback only reads forward
        assert float(np.abs(played[2].astype(int) - played[0]).mean()) > 5
    with VideoSource(clip, SIZE) as source:
        assert np.array_equal(source.render(45 / 30), played[45])
        assert source.seeks == 2
        assert np.array_equal(source.render(46 / 30), played[46])
        assert source.seeks == 2
        assert np.array_equal(source.render(6 / 30), played[6])
        assert np.array_equal(source.render(2.0 + 15 / 30), played[15])


def test_short_video_loops_to_fill_its_scene(product: Path, tmp_path: Path) -> None:
    clip = _write_video(tmp_path / "clip_1s.mp4", 1.0)
    scene = SceneInput(
        1, None, 3.0, "Meet the Lumen lamp", "hook", script=SCRIPTS[0], shows_product=True,
        video_path=clip,
    )  # fmt: skip
    spec = _with_words(
        RenderSpec(size=SIZE, scenes=(scene,), seed="job-test", product_path=product)
    )
    out = render_clip(spec, 1, tmp_path / "scene_1.mp4")
    # The clip lasts the whole scene and is green and moving to its end: the 1 s video
    # loops (frame f and f + 30 show the same footage), it does not freeze.
    assert abs(out.duration_s - 3.0) <= 1 / 30 + 1e-6
    gray = _gray_frames(tmp_path / "scene_1.mp4")
    assert len(gray) == 90
    area = _footage_area(spec, 0)
    assert _green(_rgb_frame(tmp_path / "scene_1.mp4", 85)[area]) > 80
    steps = [float(np.abs(gray[i + 1] - gray[i])[area].mean()) for i in range(74, 89)]
    assert sum(step > 5 for step in steps) >= 10, steps
    assert float(np.abs(gray[75] - gray[45])[area].mean()) < 3
    assert float(np.abs(gray[75] - gray[47])[area].mean()) > 5


def test_fingerprint_follows_the_video_file(product: Path, tmp_path: Path) -> None:
    clip = _write_video(tmp_path / "clip.mp4", 0.5)
    spec = _video_spec(product, clip)
    before = [clip_fingerprint(spec, n) for n in (1, 2, 3)]
    _write_video(clip, 0.5, shade=200)
    after = [clip_fingerprint(spec, n) for n in (1, 2, 3)]
    # Scene 2's clip and both neighbours (whose transitions show it) are invalidated.
    assert all(a != b for a, b in zip(before, after, strict=True))


def test_unreadable_video_is_a_value_error(product: Path, tmp_path: Path) -> None:
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    spec = _video_spec(product, bad)
    for n in (1, 2):  # its own clip, and a neighbour's transition into it
        with pytest.raises(ValueError, match="not a readable video"):
            render_clip(spec, n, tmp_path / f"scene_{n}.mp4")
        assert not (tmp_path / f"scene_{n}.mp4").exists()
