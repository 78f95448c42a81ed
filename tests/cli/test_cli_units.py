"""The CLI's pure parts: SSE parsing, the brief from a file and flags, the error → exit
code mapping, the poll interval, and the live progress bars on a (forced) terminal."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from reelsmith_cli.__main__ import build_parser
from reelsmith_cli.brief import brief_from
from reelsmith_cli.client import EXIT_CLIENT, EXIT_SERVER, CliError, error_from
from reelsmith_cli.display import ProgressView
from reelsmith_cli.follow import poll_interval_s, sse_events


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_sse_events_skip_keep_alives_and_join_data_lines() -> None:
    lines = ["event: job", 'data: {"a":', "data: 1}", "", ": keep-alive", "", "data: x", ""]
    assert list(sse_events(iter(lines))) == [("job", '{"a":\n1}'), ("message", "x")]


def test_a_brief_file_is_completed_and_overridden_by_flags(tmp_path: Path) -> None:
    path = tmp_path / "brief.yaml"
    path.write_text(
        "campaign_id: spring\nprompt: Glow Serum\nplatform: tiktok\nduration_s: 15\n"
        "brand: {colors: ['#000000'], tone: calm}\n"
    )
    args = parse("generate", "-f", str(path), "--duration", "30", "--color", "#ff3366")
    assert brief_from(args) == {
        "campaign_id": "spring",
        "prompt": "Glow Serum",
        "platform": "tiktok",
        "duration_s": 30,
        "brand": {"colors": ["#ff3366"], "tone": "calm"},
    }
    # A brief missing required fields names the flags that give them.
    with pytest.raises(CliError, match="--campaign, --platform") as caught:
        brief_from(parse("generate", "--prompt", "x", "--duration", "10"))
    assert caught.value.exit_code == EXIT_CLIENT


def test_options_may_come_before_or_after_the_command() -> None:
    assert parse("--json", "status", "j").json is True
    assert parse("status", "j", "--json").json is True
    assert parse("--url", "http://a", "status", "j").url == "http://a"
    assert parse("status", "j", "--url", "http://b").url == "http://b"
    assert parse("--poll", "status", "j").poll is True and parse("status", "j").poll is False


def test_errors_map_to_exit_codes() -> None:
    body = {"error": {"code": "validation_error", "message": "bad", "details": []}}
    client = error_from(httpx.Response(422, json=body))
    assert client.exit_code == EXIT_CLIENT and client.message == "422 validation_error: bad"
    server = error_from(
        httpx.Response(503, json={"error": {"code": "unavailable", "message": "x"}})
    )
    assert server.exit_code == EXIT_SERVER
    proxy = error_from(httpx.Response(502, text="<html>bad gateway</html>"))
    assert proxy.exit_code == EXIT_SERVER and proxy.error["code"] == "http_error"
    limited = error_from(httpx.Response(429, json=body, headers={"Retry-After": "30"}))
    assert "retry after 30 s" in limited.message


def test_poll_interval_follows_the_gateway_while_work_moves() -> None:
    assert poll_interval_s({"poll_after_ms": 3000, "progress": {"stage": "rendering"}}) == 2.0
    assert poll_interval_s({"poll_after_ms": 10000, "progress": {"stage": "approved"}}) == 10.0
    # An export runs while the job stays completed (whose hint is 10 s).
    exporting = {"status": "completed", "poll_after_ms": 10000, "progress": {"stage": "exporting"}}
    assert poll_interval_s(exporting) == 2.0


def job(status: str, stage: str, percent: float, message: str = "") -> dict[str, object]:
    return {"status": status, "progress": {"stage": stage, "percent": percent, "message": message}}


def test_progress_bars_per_stage_and_per_scene_on_a_terminal() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with ProgressView(console) as view:
        assert view.live
        view.update(job("queued", "queued", 0, "waiting for a storyboard worker"))
        view.update(job("storyboarding", "storyboarding", 50, "scene 1 of 2 drawn"))
        assert view.task_states() == {"queued": 100, "storyboarding": 50, "scenes": 1}
        view.update(job("storyboard_ready", "storyboard_ready", 100, "2 scenes ready"))
        view.update(job("rendering", "rendering", 40, "clip 1 of 2"))
        view.update(job("rendering", "rendering", 90, "composing variation 1"))
        assert view.task_states()["clips"] == 1
        view.update(job("completed", "completed", 100, "1 video ready"))
    # Every bar ends full: each stage at 100 %, each scene counted.
    assert view.task_states() == {
        "queued": 100,
        "storyboarding": 100,
        "scenes": 2,
        "rendering": 100,
        "clips": 2,
    }
    assert "\x1b[" in screen.getvalue()  # drawn with terminal control sequences


def test_without_a_terminal_progress_is_one_line_per_change() -> None:
    screen = io.StringIO()
    with ProgressView(Console(file=screen, width=100)) as view:
        for _ in range(3):
            view.update(job("storyboarding", "storyboarding", 50, "scene 1 of 2 drawn"))
        view.update(job("storyboard_ready", "storyboard_ready", 100, "2 scenes ready"))
    assert screen.getvalue().splitlines() == [
        "storyboarding     50%  scene 1 of 2 drawn",
        "storyboard_ready 100%  2 scenes ready",
    ]
