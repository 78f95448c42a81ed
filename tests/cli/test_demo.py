"""`make demo` (`python -m reelsmith_cli.demo`): generate → approve → render → download
against a running gateway, leaving the mp4's path as the last line on screen."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import av
import pytest

from reelsmith_cli import demo
from tests.support.system import SECRET, System


async def test_demo_leaves_a_playable_mp4(
    system: System, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No token given: the demo signs one with the gateway's secret, as with `make run`.
    monkeypatch.delenv("REELSMITH_TOKEN", raising=False)
    monkeypatch.setenv("JWT_SECRET", SECRET)
    out, err = io.StringIO(), io.StringIO()
    argv = ["--url", system.base_url, "--output-dir", str(tmp_path / "demo")]
    code = await asyncio.to_thread(demo.main, argv, out, err)
    assert code == 0, err.getvalue()

    # Each step was announced with its progress; the last line names the video.
    steps = [
        line for line in err.getvalue().splitlines() if line[:4] in ("1/4 ", "2/4 ", "3/4 ", "4/4 ")
    ]
    assert [s[:3] for s in steps] == ["1/4", "2/4", "3/4", "4/4"]
    shown = err.getvalue()
    assert "storyboard_ready" in shown and "rendering" in shown
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("Your video: ")
    path = Path(last.removeprefix("Your video: "))
    assert path.parent == (tmp_path / "demo").resolve()

    # The file is the demo brief's 10 s H.264 video.
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert abs(float(container.duration) / av.time_base - demo.DEMO_BRIEF["duration_s"]) < 0.3
        assert next(container.decode(stream)).to_ndarray(format="rgb24").std() > 5

    # The job it made is the client's, completed.
    (job,) = (await system.call("GET", "/api/v2/jobs", client_id="demo-client"))[1]["items"]
    assert job["status"] == "completed" and job["campaign_id"] == "demo"


async def test_demo_reports_an_unreachable_gateway(tmp_path: Path) -> None:
    err = io.StringIO()
    argv = ["--url", "http://127.0.0.1:9", "--token", "t", "--output-dir", str(tmp_path)]
    code = await asyncio.to_thread(demo.main, argv, io.StringIO(), err)
    assert code == 3 and "is it running?" in err.getvalue()
