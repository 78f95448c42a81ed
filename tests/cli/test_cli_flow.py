"""The whole flow through `reelsmith`, in-process against the real system: generate --wait
→ storyboard → refine → approve → render --wait → download (a real mp4) → export."""

from __future__ import annotations

import re
from pathlib import Path

import av
from PIL import Image

from tests.cli.support import cli
from tests.support.system import System

BRIEF = (
    "--campaign",
    "spring-cli",
    "--prompt",
    "Introducing Glow Serum. Brightens skin in 7 days. Vegan.",
    "--platform",
    "tiktok",
    "--duration",
    "10",
    "--color",
    "#ff3366",
    "--tone",
    "playful",
)


def decode(path: Path) -> tuple[int, int, float, int]:
    """Width, height, duration and the number of frames PyAV decodes."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        duration = float(container.duration) / av.time_base
        return stream.codec_context.width, stream.codec_context.height, duration, frames


async def test_brief_to_video_and_export(system: System, tmp_path: Path) -> None:
    # generate --wait follows the storyboard live (line progress without a terminal: the
    # states it sees; drawn in milliseconds, the storyboard has no scene progress) and
    # prints the scenes as a table.
    run = await cli(system, "generate", *BRIEF, "--wait")
    assert run.code == 0, run.stderr
    job_id = re.search(r"Storyboard of ([0-9a-f]{32})", run.stdout).group(1)  # type: ignore[union-attr]
    assert re.search(r"^storyboard_ready +100% +\d scenes ready for review$", run.stderr, re.M)
    assert f"reelsmith approve {job_id}" in run.stderr

    # storyboard prints every scene's script and caption; --json --frames saves the frames.
    job = (await cli(system, "--json", "status", job_id)).json
    scenes = job["storyboard"]["scenes"]
    run = await cli(system, "storyboard", job_id)
    assert run.code == 0
    flat = " ".join(run.stdout.split())
    for scene in scenes:
        assert " ".join(scene["caption"].split()[:2]) in flat
    frames = tmp_path / "frames"
    run = await cli(system, "storyboard", job_id, "--json", "--frames", str(frames))
    saved = [Path(scene["frame_path"]) for scene in run.json["scenes"]]
    assert len(saved) == len(scenes)
    assert Image.open(saved[0]).format == "JPEG"

    # refine --wait redoes scene 2 and answers with the new storyboard.
    run = await cli(
        system, "--json", "refine", job_id, "2", "--feedback", "show the bottle up close", "--wait"
    )
    assert run.code == 0, run.stderr
    assert run.json["status"] == "storyboard_ready"
    assert run.json["storyboard"]["scenes"][1]["revision"] == 2

    # approve, then render --wait until the video is made.
    run = await cli(system, "--json", "approve", job_id)
    assert run.code == 0 and run.json["approved"] is True
    run = await cli(system, "render", job_id, "--wait")
    assert run.code == 0, run.stderr
    assert "completed" in run.stdout and "rendering" in run.stderr
    assert re.search(r"clip \d of \d", run.stderr)

    # download streams the mp4 to a file; PyAV decodes it at the requested length.
    target = tmp_path / "ad.mp4"
    run = await cli(system, "--json", "download", job_id, "-o", str(target))
    assert run.code == 0, run.stderr
    assert run.json["path"] == str(target.resolve()) and run.json["bytes"] == target.stat().st_size
    width, height, duration, frames_decoded = decode(target)
    assert (width, height) == (108, 192) and abs(duration - 10) < 0.3 and frames_decoded > 100

    # export --wait -o reframes to 1:1 and saves it; status lists both videos.
    exports = f"{tmp_path}/exports/"
    run = await cli(system, "--json", "export", job_id, "--aspect", "1:1", "-o", exports)
    assert run.code == 0, run.stderr
    assert run.json["path"].startswith(exports)
    width, height, duration, _ = decode(Path(run.json["path"]))
    assert width == height and abs(duration - 10) < 0.3
    run = await cli(system, "--json", "download", job_id, "--aspect", "1:1", "-o", str(tmp_path))
    assert run.code == 0 and decode(Path(run.json["path"]))[:2] == (width, height)
    job = (await cli(system, "--json", "status", job_id)).json
    assert sorted(o["kind"] for o in job["outputs"]) == ["export", "render"]

    # jobs lists it; the human table shows its status.
    listing = (await cli(system, "--json", "jobs", "--campaign", "spring-cli")).json
    assert [j["id"] for j in listing["items"]] == [job_id]
    run = await cli(system, "jobs", "--status", "completed")
    assert job_id in run.stdout and "completed" in run.stdout
