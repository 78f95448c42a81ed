"""The viewer helpers (tests/support/viewer.py) on inputs whose answer is known: pictures
with known text, sines of known level, clips where the product is in view for a known
time, and layouts with safe, unsafe and illegible boxes."""

from __future__ import annotations

import math
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.support.viewer import (
    box_contrast,
    check_layout,
    colour_share,
    contrast_ratio,
    frames_at,
    loudness,
    ocr,
    product_fraction,
    sample_times,
    true_peak_dbtp,
    video_facts,
    words,
    words_found,
)

BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
NAVY, PINK, WHITE = (26, 26, 46), (255, 51, 102), (255, 255, 255)
PRODUCT = (20, 200, 90)
SIZE = (360, 640)
SAFE_ZONE = [14.0, 29.0, 346.0, 557.0]


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(BOLD, size)


def write_video(path: Path, draw: Callable[[int], Image.Image], seconds: float) -> Path:
    """An H.264 yuv420p clip at 30 fps whose frame n is `draw(n)` (the renderer's format)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = *draw(0).size, "yuv420p"
        for index in range(round(seconds * 30)):
            frame = av.VideoFrame.from_image(draw(index))  # type: ignore[no-untyped-call]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_wav(path: Path, channels: Sequence[np.ndarray], rate: int = 48_000) -> Path:
    """16-bit PCM of float channels (-1..1)."""
    pcm = np.round(np.stack(channels, axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def sine(freq: float, dbfs: float, seconds: float, rate: int = 48_000, phase: float = 0.0):  # type: ignore[no-untyped-def]
    t = np.arange(round(seconds * rate)) / rate
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t + phase)


def bottle(height: int) -> Image.Image:
    """The test product: a green bottle with a white label and a grey cap, cut out."""
    width = height // 2
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((width * 0.35, 0, width * 0.65, height * 0.12), fill=(60, 60, 60, 255))
    draw.rectangle((width * 0.3, height * 0.12, width * 0.7, height * 0.25), fill=(*PRODUCT, 255))
    draw.rounded_rectangle((0, height * 0.22, width, height), width // 5, fill=(*PRODUCT, 255))
    draw.rectangle((0, height * 0.5, width, height * 0.7), fill=(*WHITE, 255))
    return image


# --- OCR ---------------------------------------------------------------------------------


def test_ocr_reads_white_dark_and_coloured_ink_on_one_frame() -> None:
    # A frame mixing what ads show: a white headline and a pink line on navy, white on a
    # saturated card (close to it in luminance), dark text on a light label.
    image = Image.new("RGB", (540, 960), NAVY)
    draw = ImageDraw.Draw(image)
    draw.text((40, 200), "Brightens skin", font=font(44), fill=WHITE)
    draw.text((40, 260), "in 7 days", font=font(44), fill=PINK)
    draw.rectangle((0, 420, 540, 640), fill=(240, 60, 110))
    draw.rounded_rectangle((60, 470, 480, 590), 16, fill=(160, 30, 70))
    draw.text((90, 500), "Shop Glow Serum", font=font(40), fill=WHITE)
    draw.rounded_rectangle((30, 760, 510, 840), 16, fill=(245, 245, 240))
    draw.text((50, 782), "Vegan and cruelty-free", font=font(30), fill=NAVY)

    # Every line is read back.
    text = ocr(image)
    assert words_found("Brightens skin in 7 days", text) == 1.0, text
    assert words_found("Shop Glow Serum", text) == 1.0, text
    assert words_found("Vegan and cruelty-free", text) == 1.0, text

    # A crop reads only what is inside it.
    card = ocr(image, box=(30, 760, 510, 840))
    assert words_found("Vegan and cruelty-free", card) == 1.0 and "brightens" not in words(card)


def test_ocr_of_a_picture_without_text_finds_no_message() -> None:
    # A smooth gradient has no words of any message in it.
    ramp = np.linspace(0, 255, 540, dtype=np.uint8)
    image = Image.fromarray(np.stack([np.tile(ramp, (960, 1))] * 3, axis=-1))
    assert words_found("Vegan and cruelty-free", ocr(image)) == 0.0


def test_words_found_forgives_ocr_misreads_but_not_other_words() -> None:
    # Case, punctuation and a few wrong letters do not matter.
    assert words_found("98% saw smoother skin", "98 % SAW smoother skin.") == 1.0
    assert words_found("Brightens skin in 7 days", "Brlghtens skln in 7 days") == 1.0
    assert words_found("Vegan and cruelty-free", "vegan and\ncruelty\nfree") == 1.0
    # Words glued by OCR still count.
    assert words_found("Shop Glow Serum", "shopglowserum") == 1.0
    # A short word glued to its neighbour counts; the same letter elsewhere does not.
    assert words_found("Order a case", "Ordera\ncase") == 1.0
    assert words_found("Order a case", "Order\ncase banana") == pytest.approx(2 / 3)
    # A stray letter after a short word is forgiven; short words must be read exactly;
    # other words are not the message.
    assert words_found("Hydrates for 24 hours", "hydrates fori ate") == 0.5
    assert words_found("in 7 days", "is 1 days") == pytest.approx(1 / 3)
    assert words_found("Vegan and cruelty-free", "meat and dairy") == pytest.approx(1 / 4)
    assert words_found("", "anything") == 1.0
    assert words("Glow-Serum: 98%!") == ["glow", "serum", "98"]


# --- Frames ------------------------------------------------------------------------------


def test_frames_at_returns_the_picture_shown_at_each_time(tmp_path: Path) -> None:
    # A 2 s clip whose grey level is its frame number times 4.
    def grey(index: int) -> Image.Image:
        return Image.new("RGB", (64, 64), (index * 4,) * 3)

    path = write_video(tmp_path / "count.mp4", grey, seconds=2)
    facts = video_facts(path)
    assert (facts.width, facts.height, round(facts.fps)) == (64, 64, 30)
    assert facts.duration_s == pytest.approx(2, abs=0.05)

    # Frames come back in the order asked; a time past the end is the last frame.
    times = [1.0, 0.0, 0.5, 5.0]
    levels = [np.asarray(frame).mean() for frame in frames_at(path, times)]
    assert levels == pytest.approx([120, 0, 60, 59 * 4], abs=3)
    assert sample_times(0.25, 2.0, 0.5) == [0.25, 0.75, 1.25, 1.75]


# --- Sound -------------------------------------------------------------------------------


def test_loudness_of_a_sine_of_known_level(tmp_path: Path) -> None:
    # A 997 Hz sine at -14 dBFS in both channels is -14 LUFS (BS.1770: 0 dBFS in one
    # channel reads -3.01 LKFS), and its true peak is its amplitude.
    tone = sine(997, -14, seconds=5)
    lufs, dbtp = loudness(write_wav(tmp_path / "tone.wav", [tone, tone]))
    assert lufs == pytest.approx(-14, abs=0.2)
    assert dbtp == pytest.approx(-14, abs=0.1)

    # Ten dB quieter reads ten dB lower.
    quiet = sine(997, -24, seconds=5)
    lufs, _ = loudness(write_wav(tmp_path / "quiet.wav", [quiet, quiet]))
    assert lufs == pytest.approx(-24, abs=0.2)


def test_true_peak_finds_peaks_between_samples() -> None:
    # 12 kHz at 48 kHz, 45 degrees off: every sample is at 0.707 of the wave's peak, so
    # the sample peak is 3 dB under the true peak (-1 dBTP) that oversampling recovers.
    tone = sine(12_000, -1, seconds=1, phase=math.pi / 4)
    sample_peak = 20 * math.log10(float(np.max(np.abs(tone))))
    assert sample_peak == pytest.approx(-4.01, abs=0.05)
    assert true_peak_dbtp(tone[:, None], 48_000) == pytest.approx(-1, abs=0.3)


def test_loudness_reads_the_aac_track_of_a_video(tmp_path: Path) -> None:
    # A sine muxed as AAC into an mp4 (the renderer's audio) is measured after decoding;
    # it fades in and out, as an abrupt start makes the encoder overshoot.
    path = tmp_path / "with-audio.mp4"
    fade = np.minimum(1, np.minimum(np.arange(4 * 48_000), np.arange(4 * 48_000)[::-1]) / 4800)
    tone = (sine(997, -20, seconds=4) * fade).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48_000)
        stream.layout = "stereo"
        for start in range(0, len(tone), 1024):
            chunk = tone[start : start + 1024]
            planes = np.stack([chunk, chunk])
            frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout="stereo")
            frame.sample_rate = 48_000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    lufs, dbtp = loudness(path)
    assert lufs == pytest.approx(-20, abs=0.5)
    assert dbtp == pytest.approx(-20, abs=0.5)


# --- Product in view ---------------------------------------------------------------------


def test_product_fraction_counts_the_frames_showing_the_product(tmp_path: Path) -> None:
    # The product is in view for the first 3 s of 4, scaled from big to small, then gone.
    def frame(index: int) -> Image.Image:
        image = Image.new("RGB", SIZE, NAVY)
        seconds = index / 30
        if seconds < 3:
            product = bottle(round(300 - 80 * seconds))
            image.paste(product, (100, 200), product)
        ImageDraw.Draw(image).text((30, 60), "Glow Serum", font=font(40), fill=PINK)
        return image

    path = write_video(tmp_path / "product.mp4", frame, seconds=4)
    assert product_fraction(path, PRODUCT, every_s=0.5) == pytest.approx(0.75)

    # The brand's own colours are not taken for the product.
    assert colour_share(frame(100), PRODUCT) == 0.0
    assert colour_share(frame(0), PRODUCT) > 0.1


# --- Layout: safe zone and contrast ------------------------------------------------------


def test_contrast_ratio_follows_wcag() -> None:
    # Black on white is 21:1, a colour on itself 1:1, #767676 on white just passes AA.
    assert contrast_ratio((0, 0, 0), WHITE) == pytest.approx(21)
    assert contrast_ratio(PINK, PINK) == pytest.approx(1)
    assert contrast_ratio((118, 118, 118), WHITE) == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio(WHITE, (119, 119, 119)) < 4.5


def test_box_contrast_measures_the_pixels_behind_the_ink() -> None:
    # White text on navy is legible whatever the declared ink's exact shade.
    image = Image.new("RGB", (300, 80), NAVY)
    ImageDraw.Draw(image).text((10, 10), "Legible", font=font(48), fill=WHITE)
    seen = box_contrast(image, (0, 0, 300, 80), (250, 250, 250))
    assert seen.ratio > 14 and seen.background == pytest.approx(NAVY)

    # Pale grey on white is not, and a box of ink alone has nothing to read against.
    pale = Image.new("RGB", (300, 80), WHITE)
    ImageDraw.Draw(pale).text((10, 10), "Faint", font=font(48), fill=(200, 200, 200))
    assert box_contrast(pale, (0, 0, 300, 80), (200, 200, 200)).ratio < 2
    solid = Image.new("RGB", (300, 80), WHITE)
    assert box_contrast(solid, (0, 0, 300, 80), WHITE).background is None


def layout_video(path: Path) -> Path:
    """2 s: a white headline on a navy card, then (from 1 s) a pale CTA on white."""

    def frame(index: int) -> Image.Image:
        image = Image.new("RGB", SIZE, (90, 120, 160))
        draw = ImageDraw.Draw(image)
        if index < 30:
            draw.rectangle((20, 100, 340, 180), fill=NAVY)
            draw.text((36, 116), "Brightens skin", font=font(36), fill=WHITE)
        else:
            draw.rectangle((20, 400, 340, 480), fill=WHITE)
            draw.text((36, 416), "Shop now", font=font(36), fill=(210, 210, 210))
        return image

    return write_video(path, frame, seconds=2)


def layout(*boxes: dict[str, object]) -> dict[str, object]:
    return {
        "size": list(SIZE),
        "fps": 30,
        "platform": "tiktok",
        "safe_zone": SAFE_ZONE,
        "scenes": [{"index": 1, "beat": "hook", "start_s": 0.0, "end_s": 2.0}],
        "boxes": list(boxes),
    }


HEADLINE = {
    "scene": 1,
    "kind": "headline",
    "text": "Brightens skin",
    "box": [20, 100, 340, 180],
    "from_s": 0.1,
    "to_s": 0.9,
    "ink": list(WHITE),
}


def test_check_layout_passes_safe_legible_boxes(tmp_path: Path) -> None:
    # A headline inside the safe zone, white on navy; a logo and a product box beside it.
    path = layout_video(tmp_path / "layout.mp4")
    logo = {"scene": 1, "kind": "logo", "box": [280, 40, 340, 70], "from_s": 0, "to_s": 2}
    product = {"scene": 1, "kind": "product", "box": [0, 300, 360, 640], "from_s": 0, "to_s": 2}
    assert check_layout(path, layout(HEADLINE, logo, product)) == []


def test_check_layout_names_every_unsafe_or_illegible_box(tmp_path: Path) -> None:
    path = layout_video(tmp_path / "layout.mp4")
    # A headline past the left edge of the zone, a pale CTA on white, a logo under the bottom UI,
    # a headline said to be pink that is drawn white, and a caption without text.
    high = {**HEADLINE, "box": [5, 100, 340, 180]}
    pale = {**HEADLINE, "kind": "cta", "text": "Shop now", "box": [20, 400, 340, 480]}
    pale.update({"from_s": 1.2, "to_s": 1.9, "ink": [210, 210, 210]})
    logo = {"scene": 1, "kind": "logo", "box": [280, 580, 340, 620], "from_s": 0, "to_s": 2}
    pink = {**HEADLINE, "ink": list(PINK)}
    blank = {**HEADLINE, "kind": "caption", "text": " "}
    problems = check_layout(path, layout(high, pale, logo, pink, blank))
    assert len(problems) == 5, problems
    assert "outside the safe zone" in problems[0] and "headline" in problems[0]
    assert "logo" in problems[1] and "outside the safe zone" in problems[1]
    assert "without text" in problems[2]
    assert "cta 'Shop now'" in problems[3] and "contrast" in problems[3]
    assert "headline" in problems[4] and "contrast" in problems[4]

    # A layout for another size is caught too.
    wrong = {**layout(HEADLINE), "size": [720, 1280]}
    assert check_layout(path, wrong) == ["layout size 720x1280 != video 360x640"]
