"""The local video engine (services/renderer/engine): clips, composition, audio, exports.

Small sizes (180x320) and short scenes keep the whole file to a few seconds of encoding.
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
from PIL import Image

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
)
from services.renderer.engine.audio import build_soundtrack, voice_activity
from services.renderer.engine.layout import baked_caption_box, counter_box
from services.renderer.engine.loudness import integrated_loudness
from services.renderer.engine.scaler import PaddedSource, SubpixelScaler, yuv420_planes
from services.renderer.engine.scene import load_storyboard_frame
from services.renderer.engine.timeline import build_timeline
from services.renderer.engine.video import VideoSource
from shared.providers.local.frames import draw_frame

SIZE = (180, 320)
DURATIONS = (1.5, 1.2, 1.3)
CAPTIONS = ("Meet the Lumen lamp", "Light that follows you", "Shop now at lumen.example")
BEATS = ("hook", "solution", "cta")
COLORS = ("#1d3557", "#2a9d8f", "#a8dadc")  # no red: the test logo is pure red
ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------ helpers


def _write_frames(folder: Path, size: tuple[int, int]) -> list[Path]:
    paths = []
    for index, (caption, beat) in enumerate(zip(CAPTIONS, BEATS, strict=True), 1):
        path = folder / f"scene_{index}.jpg"
        jpeg = draw_frame(
            size=size,
            caption=caption,
            beat=beat,
            scene_index=index,
            scene_count=len(CAPTIONS),
            colors=list(COLORS),
            tone="bold",
            seed="job-test",
        )
        path.write_bytes(jpeg)
        paths.append(path)
    return paths


def _spec(frames: list[Path], **changes: object) -> RenderSpec:
    scenes = tuple(
        SceneInput(i + 1, frames[i], DURATIONS[i], CAPTIONS[i], BEATS[i]) for i in range(3)
    )
    spec = RenderSpec(size=SIZE, scenes=scenes, seed="job-test", colors=COLORS)
    return replace(spec, **changes)  # type: ignore[arg-type]


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


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("render")


@pytest.fixture(scope="module")
def frames(work: Path) -> list[Path]:
    folder = work / "frames"
    folder.mkdir()
    return _write_frames(folder, SIZE)


@pytest.fixture(scope="module")
def logo(work: Path) -> Path:
    path = work / "logo.png"
    Image.new("RGBA", (64, 64), (255, 0, 0, 255)).save(path)
    return path


@pytest.fixture(scope="module")
def rendered(frames: list[Path], logo: Path, work: Path) -> tuple[RenderSpec, list[Path], Path]:
    spec = _spec(frames, logo_path=logo)
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
    _, _, final = rendered
    info = probe(final)
    # Video: H.264 yuv420p at the exact size and a constant 30 fps.
    assert (info.video_codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height) == SIZE
    assert info.fps == pytest.approx(30.0)
    # Duration: the sum of the scene durations.
    assert info.duration_s == pytest.approx(sum(DURATIONS), abs=0.2)
    with av.open(str(final)) as container:
        stream = container.streams.video[0]
        assert stream.frames == round(sum(DURATIONS) * 30)
        assert stream.average_rate == 30
    # Audio: AAC, 48 kHz stereo, as long as the video and not silent.
    assert info.audio_codec == "aac"
    samples = _audio(final)
    assert samples.shape[0] == 2
    assert samples.shape[1] / 48_000 == pytest.approx(sum(DURATIONS), abs=0.1)
    assert float(np.sqrt((samples**2).mean())) > 0.02


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


def test_motion_is_smooth(video: np.ndarray) -> None:
    # Frames inside scene 1, away from the caption reveal and the transition.
    steps = np.array([float(np.abs(video[i + 1] - video[i]).mean()) for i in range(16, 36)])
    # Every frame moves (no duplicated frames, as integer-stepped zooms produce) ...
    assert steps.min() > 0.02
    # ... by a small amount, and evenly: no jumps.
    assert steps.max() < 2.0
    assert steps.max() < 3.5 * np.median(steps)


def test_transition_blends_across_the_clip_boundary(video: np.ndarray) -> None:
    # Around the first scene boundary (frame 45) frames change gradually, not in one cut.
    steps = [float(np.abs(video[i + 1] - video[i]).mean()) for i in range(38, 52)]
    whole = float(np.abs(video[53] - video[37]).mean())
    assert max(steps) < 0.5 * whole


def test_logo_watermark_is_visible(rendered: tuple[RenderSpec, list[Path], Path]) -> None:
    # The solid red logo shows top-right in scene 1 and in the end card.
    _, _, final = rendered

    def red(pixels: np.ndarray) -> int:
        return int(((pixels[..., 0] > 150) & (pixels[..., 1] < 90) & (pixels[..., 2] < 90)).sum())

    for index in (10, 100):
        frame = _rgb_frame(final, index)
        assert red(frame[: SIZE[1] // 4, SIZE[0] // 2 :]) > 40, f"no logo in frame {index}"
    # In scene 1 nothing else is that red; the end card also shows the logo large.
    assert red(_rgb_frame(final, 10)[SIZE[1] // 4 :]) < 20
    assert red(_rgb_frame(final, 100)[SIZE[1] // 4 :]) > 200


def test_scene_counter_is_erased(tmp_path: Path) -> None:
    # A 540x960 storyboard frame carries a "1 / 3" badge top-left.
    frame = _write_frames(tmp_path, (540, 960))[0]
    box = counter_box((540, 960), 3)
    assert box is not None
    x0, y0, x1, y1 = (round(v) for v in box)
    raw = np.asarray(Image.open(frame).convert("L"), dtype=np.float32)[y0:y1, x0:x1]
    # Loaded for the video, the badge is gone: the patch is as smooth as its surroundings.
    loaded = load_storyboard_frame(frame, (540, 960), 1, 3, marks=True)
    erased = np.asarray(loaded.convert("L"), dtype=np.float32)[y0:y1, x0:x1]
    assert raw.std() > 20
    assert erased.std() < 6
    # Frames not from the storyboard renderer are left alone.
    untouched = load_storyboard_frame(frame, (540, 960), 1, 3, marks=False)
    assert np.array_equal(np.asarray(untouched), np.asarray(Image.open(frame).convert("RGB")))


def test_variations_differ_visibly(
    frames: list[Path], logo: Path, work: Path, video: np.ndarray
) -> None:
    # Render variation 2 of the same storyboard.
    spec = _spec(frames, logo_path=logo, variation=2)
    _, final = _render(spec, work / "v2")
    other = _gray_frames(final)
    # Same length, visibly different pictures (motion, captions, transitions).
    assert other.shape == video.shape
    diffs = [float(np.abs(other[i] - video[i]).mean()) for i in (15, 30, 45, 70)]
    assert np.mean(diffs) > 6
    # Different music too: the two soundtracks are far apart, sample by sample.
    mine, theirs = _audio(work / "v1" / "final.mp4"), _audio(final)
    n = min(mine.shape[1], theirs.shape[1])
    difference = float(np.sqrt(((mine[:, :n] - theirs[:, :n]) ** 2).mean()))
    assert difference > 0.8 * float(np.sqrt((mine**2).mean()))


# ------------------------------------------------------------------------------ clips


def test_cancel_file_stops_a_clip_and_leaves_nothing(frames: list[Path], tmp_path: Path) -> None:
    # The cancel file exists before the clip starts.
    cancel = tmp_path / "cancel"
    cancel.touch()
    out = tmp_path / "clips" / "scene_1.mp4"
    # The render stops with RenderCanceled ...
    with pytest.raises(RenderCanceled):
        render_clip(_spec(frames), 1, out, cancel_file=cancel)
    # ... and leaves neither the clip nor a temp file.
    assert not out.exists()
    assert list(out.parent.iterdir()) == []


def test_checkpointed_clip_is_reused_only_for_the_same_spec(
    rendered: tuple[RenderSpec, list[Path], Path], frames: list[Path]
) -> None:
    spec, clips, _ = rendered
    # The clip just rendered is current for its own spec.
    assert clip_is_current(spec, 1, clips[0])
    # A changed neighbour caption, variation or missing file makes it stale.
    captions = list(spec.scenes)
    captions[1] = replace(captions[1], caption="Something else")
    assert not clip_is_current(replace(spec, scenes=tuple(captions)), 1, clips[0])
    assert not clip_is_current(replace(spec, variation=3), 1, clips[0])
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
    # A 1.5 s 440 Hz tone uploaded as music for a 4 s video.
    spec, clips, _ = rendered
    music = tmp_path / "music.wav"
    _write_tone(music, 440.0, 1.5)
    out = tmp_path / "final.mp4"
    progress: list[float] = []
    compose(replace(spec, music_path=music), clips, out, progress=progress.append)
    samples = _audio(out)
    # The soundtrack is the tone, looped to the end (before the fade-out).
    assert _dominant_hz(samples) == pytest.approx(440.0, abs=3)
    late = samples[:, int(2.2 * 48_000) : int(2.4 * 48_000)]
    assert float(np.sqrt((late**2).mean())) > 0.05
    # Progress went from 0 to 1.
    assert progress[0] == 0.0 and progress[-1] == 1.0


def test_soundtrack_loudness_and_voiceover_ducking(frames: list[Path], tmp_path: Path) -> None:
    # The synthesized bed sits near -16 LUFS without clipping.
    spec = _spec(frames)
    bed = build_soundtrack(spec, 6.0)
    assert integrated_loudness(bed) == pytest.approx(-16.0, abs=1.0)
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


def test_caption_card_prediction_matches_the_storyboard_panel() -> None:
    # The storyboard frame with and without its caption differ only inside the panel.
    size = (540, 960)
    common = dict(
        size=size, beat="solution", scene_index=2, scene_count=4, colors=list(COLORS),
        tone="calm", seed="job-x",
    )  # fmt: skip
    caption = "Light that follows you around"
    with_text = Image.open(_bytes(draw_frame(caption=caption, **common)))  # type: ignore[arg-type]
    without = Image.open(_bytes(draw_frame(caption="", **common)))  # type: ignore[arg-type]
    diff = np.abs(np.asarray(with_text, dtype=np.int16) - np.asarray(without, dtype=np.int16)).max(
        axis=2
    )
    ys, xs = np.nonzero(diff > 24)
    box = baked_caption_box(size, caption)
    assert box is not None
    # JPEG ringing stays within a few pixels of the predicted panel.
    assert xs.min() >= box[0] - 4 and xs.max() <= box[2] + 4
    assert ys.min() >= box[1] - 4 and ys.max() <= box[3] + 4


def _bytes(data: bytes) -> object:
    import io

    return io.BytesIO(data)


def test_spec_validation(frames: list[Path]) -> None:
    # Odd sizes, bad colours and scenes out of order are refused up front.
    with pytest.raises(ValueError, match="even"):
        _spec(frames, size=(181, 320))
    with pytest.raises(ValueError, match="hex"):
        _spec(frames, colors=("not-a-colour",))
    scene = SceneInput(2, frames[0], 1.0, "x", "hook")
    with pytest.raises(ValueError, match="index"):
        RenderSpec(size=SIZE, scenes=(scene,))


def test_memory_does_not_grow_with_clip_length(frames: list[Path], tmp_path: Path) -> None:
    # The same one-scene clip rendered 2 s and 16 s long in a fresh process each.
    script = textwrap.dedent(
        """
        import re, sys
        from pathlib import Path
        from services.renderer.engine import RenderSpec, SceneInput, render_clip
        seconds, frame, out = float(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
        scene = SceneInput(1, frame, seconds, "Meet the Lumen lamp", "hook")
        render_clip(RenderSpec(size=(360, 640), scenes=(scene,)), 1, out)
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would report the
        # forking pytest process's size once that is the larger.
        status = Path("/proc/self/status").read_text()
        print(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
        """
    )
    peaks = []
    for seconds in (2, 16):
        result = subprocess.run(
            [sys.executable, "-c", script, str(seconds), str(frames[0]), str(tmp_path / "m.mp4")],
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


def _video_spec(frames: list[Path], clip: Path, **changes: object) -> RenderSpec:
    spec = _spec(frames, **changes)
    scenes = list(spec.scenes)
    scenes[1] = replace(scenes[1], video_path=clip)
    return replace(spec, scenes=tuple(scenes))


@pytest.fixture(scope="module")
def video_rendered(
    frames: list[Path], logo: Path, work: Path
) -> tuple[RenderSpec, list[Path], Path]:
    clip = _write_video(work / "clip_2s.mp4", 2.0)
    spec = _video_spec(frames, clip, logo_path=logo)
    clips, final = _render(spec, work / "video")
    return spec, clips, final


def test_video_scene_plays_its_footage(
    video_rendered: tuple[RenderSpec, list[Path], Path],
) -> None:
    spec, _, final = video_rendered
    # The final video lasts as long as the storyboard.
    assert abs(probe(final).duration_s - spec.duration_s) <= 0.2
    # Mid scene 2 (frames 45..81) shows the green footage; scene 1 does not.
    middle = slice(100, 200), slice(40, 140)
    assert _green(_rgb_frame(final, 63)[middle]) > 80
    assert _green(_rgb_frame(final, 20)[middle]) < 40
    # The footage plays: successive frames change (24 fps footage at 30 fps repeats about
    # one frame in five), ...
    gray = _gray_frames(final)
    steps = [float(np.abs(gray[i + 1] - gray[i])[middle].mean()) for i in range(55, 70)]
    assert sum(step > 5 for step in steps) >= 10, steps
    # ... the logo watermark is drawn on it, and so is the caption card.
    frame = _rgb_frame(final, 63)
    red = (frame[..., 0] > 150) & (frame[..., 1] < 90) & (frame[..., 2] < 90)
    assert red[: SIZE[1] // 4, SIZE[0] // 2 :].sum() > 40
    x0, y0, x1, y1 = build_timeline(spec).slots[1].card_box or (0, 0, 0, 0)
    assert x1 > x0 and y1 > y0
    assert _green(frame[y0:y1, x0:x1]) < 40


def test_video_scene_transitions_show_its_footage(
    video_rendered: tuple[RenderSpec, list[Path], Path],
) -> None:
    _, clips, _ = video_rendered
    # The last frame of clip 1 is halfway into the transition to the video; the first
    # frame of clip 3 is just past halfway out of it: both show some of its green.
    middle = slice(100, 200), slice(40, 140)
    assert _green(_rgb_frame(clips[0], 44)[middle]) > _green(_rgb_frame(clips[0], 20)[middle]) + 20
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


def test_short_video_loops_to_fill_its_scene(frames: list[Path], tmp_path: Path) -> None:
    clip = _write_video(tmp_path / "clip_1s.mp4", 1.0)
    scene = SceneInput(1, frames[0], 3.0, "Meet the Lumen lamp", "hook", video_path=clip)
    spec = RenderSpec(size=SIZE, scenes=(scene,), seed="job-test")
    out = render_clip(spec, 1, tmp_path / "scene_1.mp4")
    # The clip lasts the whole scene and is green and moving to its end: the 1 s video
    # loops (frame f and f + 30 show the same footage), it does not freeze.
    assert abs(out.duration_s - 3.0) <= 0.1
    gray = _gray_frames(tmp_path / "scene_1.mp4")
    assert len(gray) == 90
    top = slice(20, 140), slice(None)
    assert _green(_rgb_frame(tmp_path / "scene_1.mp4", 85)[top]) > 80
    steps = [float(np.abs(gray[i + 1] - gray[i])[top].mean()) for i in range(74, 89)]
    assert sum(step > 5 for step in steps) >= 10, steps
    assert float(np.abs(gray[75] - gray[45])[top].mean()) < 3
    assert float(np.abs(gray[75] - gray[47])[top].mean()) > 5


def test_fingerprint_follows_the_video_file(frames: list[Path], tmp_path: Path) -> None:
    clip = _write_video(tmp_path / "clip.mp4", 0.5)
    spec = _video_spec(frames, clip)
    before = [clip_fingerprint(spec, n) for n in (1, 2, 3)]
    _write_video(clip, 0.5, shade=200)
    after = [clip_fingerprint(spec, n) for n in (1, 2, 3)]
    # Scene 2's clip and both neighbours (whose transitions show it) are invalidated.
    assert all(a != b for a, b in zip(before, after, strict=True))


def test_unreadable_video_is_a_value_error(frames: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    spec = _video_spec(frames, bad)
    for n in (1, 2):  # its own clip, and a neighbour's transition into it
        with pytest.raises(ValueError, match="not a readable video"):
            render_clip(spec, n, tmp_path / f"scene_{n}.mp4")
        assert not (tmp_path / f"scene_{n}.mp4").exists()
