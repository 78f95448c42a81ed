"""The renderer's QC (services/renderer/qc) on short videos with one planted fault each
(tests/support/faulty_videos.py, encoded with PyAV like the engine's files): each fault is
found, with its time range where it has one and a thumbnail of it; a clean video passes;
what the engine does on purpose (a dip through black at a cut, a held end card) is not a
finding."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from services.renderer.qc.check import QcResult, check_video
from services.renderer.qc.container import moov_before_mdat
from services.renderer.qc.decoding import THUMBNAIL_WIDTH
from services.renderer.qc.text import reframed_layout
from shared.checks.findings import Finding
from tests.support.faulty_videos import SIZE, Planted, Text, layout_for, write_video

# Times are measured on the decoded frames: within two frames at 30 fps.
TOLERANCE_S = 0.1
RIGHT_RAIL = Text("Shop", (318, 300, 356, 330), (1.0, 4.0))
LEGIBLE = Text("Shop now", (40, 300, 250, 340), (1.0, 4.0))


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Planted], Path]:
    """Writes each planted video once per module, by name."""
    folder = tmp_path_factory.mktemp("faulty")
    cache: dict[str, Path] = {}

    def make(name: str, planted: Planted) -> Path:
        if name not in cache:
            cache[name] = write_video(folder / f"{name}.mp4", planted)
        return cache[name]

    return make


def check(path: Path, layout: dict[str, Any] | None = None) -> QcResult:
    return check_video(path, "tiktok", layout, lambda n: f"videos/job/qc/v1_{n}.jpg")


def only(result: QcResult, check_name: str) -> Finding:
    found = [f for f in result.report.findings if f.check == check_name]
    assert len(found) == 1, result.report.findings
    return found[0]


def assert_spans(finding: Finding, start: float, end: float) -> None:
    assert finding.start_s == pytest.approx(start, abs=TOLERANCE_S), finding
    assert finding.end_s == pytest.approx(end, abs=TOLERANCE_S), finding


def thumbnail_of(result: QcResult, finding: Finding) -> Image.Image:
    assert finding.thumbnail_key is not None, finding
    image = Image.open(io.BytesIO(result.thumbnails[finding.thumbnail_key]))
    assert image.format == "JPEG" and image.width == THUMBNAIL_WIDTH
    return image.convert("RGB")


def test_a_clean_video_passes(made: Callable[[str, Planted], Path]) -> None:
    # A moving picture with a legible caption inside the safe zone, music at -14 LUFS, the
    # engine's encoder settings, moov first.
    result = check(made("clean", Planted(texts=(LEGIBLE,))), layout_for(LEGIBLE))

    # Nothing to fix; the one note is that it is smaller than TikTok's frame.
    assert result.report.status == "pass", result.report.findings
    assert [f.check for f in result.report.findings] == ["qc.resolution"]
    measured = result.report.measured
    assert measured["loudness_lufs"] == pytest.approx(-14, abs=0.5)
    assert float(measured["true_peak_dbtp"]) <= -1
    assert measured["faststart"] is True and measured["pixel_format"] == "yuv420p"
    # The engine's bitrate floor holds even for a small, simple picture.
    assert float(measured["video_kbps"]) >= 516
    assert measured["text_boxes_read"] == 1


def test_a_black_second_is_found_with_its_time(made: Callable[[str, Planted], Path]) -> None:
    result = check(made("black", Planted(black=(2.0, 3.0))))
    finding = only(result, "qc.black_frames")
    assert finding.severity == "error" and result.report.status == "fail"
    assert_spans(finding, 2.0, 3.0)
    # Its thumbnail is the black frame.
    assert max(thumbnail_of(result, finding).getextrema()[0]) < 40


def test_black_at_a_cut_is_a_transition(made: Callable[[str, Planted], Path]) -> None:
    # A dip through black at the cut between two scenes is a transition (the engine's
    # span 0.25 s each side of a cut): only black beyond that counts.
    layout = layout_for()
    layout["scenes"] = [
        {"index": 1, "beat": "hook", "start_s": 0.0, "end_s": 2.5},
        {"index": 2, "beat": "cta", "start_s": 2.5, "end_s": 6.0},
    ]
    dip = check(made("dip", Planted(black=(2.3, 2.7))), layout)
    assert not [f for f in dip.report.findings if f.check == "qc.black_frames"]
    # A whole black second at that cut is still too long.
    long = check(made("black", Planted(black=(2.0, 3.0))), layout)
    assert only(long, "qc.black_frames").severity == "error"


def test_a_frozen_picture_is_found_with_its_time(made: Callable[[str, Planted], Path]) -> None:
    result = check(made("frozen", Planted(frozen=(1.5, 4.5))))
    finding = only(result, "qc.frozen_picture")
    assert finding.severity == "warning" and result.report.status == "warn"
    assert_spans(finding, 1.5, 4.5)
    thumbnail_of(result, finding)


def test_a_held_end_card_is_not_frozen(made: Callable[[str, Planted], Path]) -> None:
    # The call to action holds still on purpose.
    layout = layout_for(LEGIBLE)
    layout["scenes"] = [
        {"index": 1, "beat": "hook", "start_s": 0.0, "end_s": 3.0},
        {"index": 2, "beat": "cta", "start_s": 3.0, "end_s": 6.0},
    ]
    result = check(made("held_end", Planted(frozen=(3.2, 6.0), texts=(LEGIBLE,))), layout)
    assert result.report.status == "pass", result.report.findings


def test_a_silent_track_and_a_missing_one(made: Callable[[str, Planted], Path]) -> None:
    silent = only(check(made("silent", Planted(sound="silent"))), "qc.silent_audio")
    assert silent.severity == "error"
    assert_spans(silent, 0.0, 6.0)
    missing = only(check(made("no_sound", Planted(sound="none"))), "qc.audio_missing")
    assert missing.severity == "error" and "TikTok needs one" in missing.message


def test_a_quiet_track_is_found(made: Callable[[str, Planted], Path]) -> None:
    result = check(made("quiet", Planted(lufs=-30.0)))
    finding = only(result, "qc.loudness")
    assert finding.severity == "error" and "quieter" in finding.message
    assert result.report.measured["loudness_lufs"] == pytest.approx(-30, abs=0.5)


def test_clipped_peaks_are_found_where_they_are(made: Callable[[str, Planted], Path]) -> None:
    result = check(made("clipped", Planted(clipped=(2.0, 3.0))))
    finding = only(result, "qc.true_peak")
    assert finding.severity == "error" and float(result.report.measured["true_peak_dbtp"]) > 0
    assert_spans(finding, 2.0, 3.0)


def test_the_wrong_pixel_format_is_found(made: Callable[[str, Planted], Path]) -> None:
    result = check(made("yuv444p", Planted(pixel_format="yuv444p")))
    assert only(result, "qc.pixel_format").severity == "error"
    # x264 writes 4:4:4 with a profile phones do not decode.
    assert "4:4:4" in only(result, "qc.profile").message


def test_moov_at_the_end_is_found(made: Callable[[str, Planted], Path]) -> None:
    path = made("moov_last", Planted(faststart=False))
    assert not moov_before_mdat(path)
    finding = only(check(path), "qc.faststart")
    assert finding.severity == "error"
    assert_spans(finding, 0.0, 6.0)


def test_a_bitrate_under_the_platforms_floor_is_found(
    made: Callable[[str, Planted], Path],
) -> None:
    result = check(made("low_rate", Planted(low_bitrate=True)))
    finding = only(result, "qc.bitrate")
    assert finding.severity == "error" and "516" in finding.message


def test_a_blank_first_frame_is_found(made: Callable[[str, Planted], Path]) -> None:
    finding = only(check(made("blank_start", Planted(blank_start=True))), "qc.blank_first_frame")
    assert finding.severity == "warning" and finding.start_s == 0.0


def test_text_in_the_right_rail_is_found(made: Callable[[str, Planted], Path]) -> None:
    # The caption sits under TikTok's buttons (its right 14%), from 1 s to 4 s.
    result = check(made("rail", Planted(texts=(RIGHT_RAIL,))), layout_for(RIGHT_RAIL))
    finding = only(result, "qc.safe_zone")
    assert finding.severity == "error" and "'Shop'" in finding.message and finding.scene == 1
    assert_spans(finding, 1.0, 4.0)
    # The thumbnail outlines the box in red.
    thumb = thumbnail_of(result, finding)
    scale = thumb.width / SIZE[0]
    red = thumb.getpixel((round(RIGHT_RAIL.box[0] * scale), round(315 * scale)))
    assert isinstance(red, tuple) and red[0] > 180 and red[1] < 120


def test_illegible_text_is_found(made: Callable[[str, Planted], Path]) -> None:
    pale = Text("Shop now", (40, 300, 250, 340), (1.0, 4.0), (205, 205, 205), (255, 255, 255))
    result = check(made("pale", Planted(texts=(pale,))), layout_for(pale))
    finding = only(result, "qc.text_contrast")
    assert finding.severity == "error" and "'Shop now'" in finding.message
    assert_spans(finding, 1.0, 4.0)


def test_an_unreadable_file_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"not a video at all")
    assert only(check(path), "qc.unreadable").severity == "error"


def test_an_exports_layout_moves_with_the_picture() -> None:
    # A 9:16 render re-framed to 16:9: scaled to the height and centred.
    layout = layout_for(RIGHT_RAIL)
    moved = reframed_layout(layout, (640, 360), "youtube")
    assert moved["size"] == [640, 360] and moved["platform"] == "youtube"
    assert "safe_zone" not in moved
    # 360x640 -> 202x360 at x = 218 (even pixels, like the engine's reframe).
    assert moved["boxes"][0]["box"] == [218 + round(318 * 202 / 360), 169, 218 + 200, 186]
