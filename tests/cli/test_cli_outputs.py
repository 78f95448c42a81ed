"""The CLI's view of a brief's style, the storyboard's left-out claims and variation plans,
each output's hypothesis, and the `captions` / `contact-sheet` downloads."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

from PIL import Image
from rich.console import Console

from reelsmith_cli.__main__ import build_parser
from reelsmith_cli.brief import brief_from
from reelsmith_cli.display import job_summary, storyboard_table
from tests.cli.support import cli
from tests.support.system import System

PLANS: list[dict[str, Any]] = [
    {
        "variation": 1,
        "style": "bold",
        "hook_angle": "claim",
        "hook": "Brighter in 7 days",
        "hook_script": "Brighter skin in seven days.",
        "call_to_action": "Shop now",
        "hypothesis": "A concrete claim stops the scroll better than a question.",
    },
    {
        "variation": 2,
        "style": "social",
        "hook_angle": "question",
        "hook": "Tired skin?",
        "hook_script": "Tired of tired skin?",
        "call_to_action": "Try it today",
        "hypothesis": "A question hook feels native on TikTok.",
    },
]


def _screen(draw: Any, job: dict[str, Any]) -> str:
    buffer = io.StringIO()
    draw(Console(file=buffer, width=200), job)
    return " ".join(buffer.getvalue().split())


def _job(**storyboard: Any) -> dict[str, Any]:
    scene = {"index": 1, "beat": "hook", "duration_s": 5.0, "script": "Hi.", "caption": "Hi"}
    return {
        "id": "j" * 32,
        "campaign_id": "c",
        "status": "completed",
        "progress": {"stage": "completed", "percent": 100, "message": ""},
        "storyboard": {"scenes": [scene], **storyboard},
        "outputs": [],
    }


def test_style_comes_from_the_flag_or_the_brief_file(tmp_path: Path) -> None:
    parser = build_parser()
    brief = ["--campaign", "c", "--prompt", "p", "--platform", "tiktok", "--duration", "10"]
    assert brief_from(parser.parse_args(["generate", *brief, "--style", "clean"]))["style"] == (
        "clean"
    )
    assert "style" not in brief_from(parser.parse_args(["generate", *brief]))
    path = tmp_path / "brief.yaml"
    path.write_text("style: social\n")
    assert brief_from(parser.parse_args(["estimate", "-f", str(path), *brief]))["style"] == (
        "social"
    )
    args = parser.parse_args(["generate", "-f", str(path), *brief, "--style", "bold"])
    assert brief_from(args)["style"] == "bold"  # the flag wins


def test_storyboard_table_shows_left_out_claims_and_variation_plans() -> None:
    text = _screen(
        storyboard_table, _job(claims_left_out=["Vegan", "Cruelty free"], variations=PLANS)
    )
    assert "Left out for length: Vegan; Cruelty free" in text
    for plan in PLANS:
        for field in ("style", "hook", "call_to_action"):
            assert plan[field] in text, field
        assert " ".join(plan["hypothesis"].split()[:3]) in text
    # Without them (an older storyboard), neither section appears.
    plain = _screen(storyboard_table, _job())
    assert "Left out" not in plain and "Variations" not in plain


def test_job_summary_shows_each_outputs_style_and_hypothesis() -> None:
    job = _job()
    job["outputs"] = [
        {
            "kind": "render",
            "variation": k,
            "width": 108,
            "height": 192,
            "duration_s": 10.0,
            "size_bytes": 1_000_000,
            "url": f"/api/v2/jobs/x/video?variation={k}",
            "style": plan["style"],
            "hypothesis": plan["hypothesis"],
        }
        for k, plan in enumerate(PLANS, 1)
    ]
    text = _screen(job_summary, job)
    assert "v1 bold" in text and "v2 social" in text
    for plan in PLANS:
        assert f"tests: {plan['hypothesis']}" in text


def test_captions_and_contact_sheet_commands_parse() -> None:
    parser = build_parser()
    args = parser.parse_args(["captions", "J", "--srt", "--variation", "2", "-o", "x.srt"])
    assert (args.command, args.job_id, args.srt, args.variation, args.output) == (
        "captions",
        "J",
        True,
        2,
        "x.srt",
    )
    assert parser.parse_args(["captions", "J"]).srt is False
    args = parser.parse_args(["contact-sheet", "J", "-o", "sheets/"])
    assert (args.command, args.variation, args.output) == ("contact-sheet", 1, "sheets/")


async def test_downloads_before_a_render_are_client_errors(system: System) -> None:
    job = await system.create_job()
    run = await cli(system, "--json", "captions", job["id"])
    assert run.code == 2 and run.json["error"]["code"] == "not_found"
    run = await cli(system, "contact-sheet", job["id"], "-o", "/nonexistent-dir/x.jpg")
    assert run.code == 2 and "404 not_found" in run.stderr
    run = await cli(system, "--json", "captions", "0" * 32, "--srt", client_id="client-b")
    assert run.code == 2


async def test_captions_and_contact_sheet_of_a_rendered_job(system: System, tmp_path: Path) -> None:
    """Needs the renderer to write captions and contact sheets."""
    job = await system.approved_job(duration_s=5, variations=2)
    run = await cli(system, "render", job["id"], "--wait")
    assert run.code == 0, run.stderr

    run = await cli(system, "--json", "captions", job["id"], "-o", f"{tmp_path}/")
    assert run.code == 0, run.stderr
    vtt = Path(run.json["path"])
    text = await asyncio.to_thread(vtt.read_bytes)
    assert vtt.name == f"{job['id']}-v1.vtt" and text.startswith(b"WEBVTT")
    assert run.json["bytes"] == len(text)

    target = tmp_path / "two.srt"
    run = await cli(
        system, "--json", "captions", job["id"], "--srt", "--variation", "2", "-o", str(target)
    )
    assert run.code == 0, run.stderr
    assert target.read_text().startswith("1\n00:00:")

    run = await cli(system, "contact-sheet", job["id"], "--variation", "2", "-o", str(tmp_path))
    assert run.code == 0, run.stderr
    sheet = tmp_path / f"{job['id']}-v2-contact-sheet.jpg"
    assert run.stdout.strip() == str(sheet.resolve())
    assert Image.open(sheet).format == "JPEG"

    # The summary names each variation's hypothesis when the planner gave one.
    done = (await cli(system, "--json", "status", job["id"])).json
    summary = (await cli(system, "status", job["id"])).stdout
    for output in done["outputs"]:
        if output.get("hypothesis"):
            assert " ".join(output["hypothesis"].split()[:3]) in " ".join(summary.split())
