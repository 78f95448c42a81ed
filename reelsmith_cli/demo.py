"""`make demo`: generate → approve → render → download against a running gateway (`make
run`), with the CLI's progress bars; the last line on stdout is the mp4's path.

    python -m reelsmith_cli.demo [--url URL] [--output-dir DIR]

The token is REELSMITH_TOKEN, else one signed with `make run`'s secret (`data/.jwt_secret`),
else the gateway's development login.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from reelsmith_cli import display, tokens
from reelsmith_cli.client import API, DEFAULT_URL, EXIT_OK, Api, CliError, job_path
from reelsmith_cli.commands import JOB_ENDED_BADLY, UNFINISHED_STORYBOARD, Session
from reelsmith_cli.output import Output

DEMO_BRIEF: dict[str, Any] = {
    "campaign_id": "demo",
    "prompt": "Introducing Glow Serum: brighter skin in 7 days. Vegan, cruelty free,"
    " made for every skin type.",
    "platform": "tiktok",
    "duration_s": 10,
    "brand": {"colors": ["#ff3366", "#1a1a2e"], "tone": "playful"},
    "product": "Glow Serum",
    "call_to_action": "Shop now",
}


def run_demo(session: Session, output_dir: Path, brief: dict[str, Any] | None = None) -> Path:
    """The four steps; raises CliError (with its exit code) when one fails."""
    say = session.out.err.print
    job = session.api.json("POST", f"{API}/jobs", json=brief or DEMO_BRIEF)
    say(f"1/4 generate: job {job['id']}, storyboard on its way", style="bold")
    job = session.follow(job, lambda j: j["status"] not in UNFINISHED_STORYBOARD)
    _check(job)
    display.storyboard_table(session.out.err, job)
    say("2/4 approve", style="bold")
    session.api.json("POST", job_path(job["id"], "approve"))
    say("3/4 render", style="bold")
    job = session.api.json("POST", job_path(job["id"], "render"))
    job = session.follow(job, lambda j: j["status"] != "rendering")
    _check(job)
    say("4/4 download", style="bold")
    output_dir.mkdir(parents=True, exist_ok=True)
    target = (output_dir / f"{job['id']}.mp4").resolve()
    size = session.api.download(job_path(job["id"], "video"), target, {"variation": 1})
    say(f"{size / 1e6:.1f} MB, {job['outputs'][0]['duration_s']:.1f} s", style="dim")
    return target


def _check(job: dict[str, Any]) -> None:
    if job["status"] in JOB_ENDED_BADLY:
        reason = job.get("error_message") or job["status"]
        raise CliError(4, f"job {job['id']} {job['status']}: {reason}")


def main(
    argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    parser = argparse.ArgumentParser(
        prog="make demo", description="generate, approve, render, download a demo ad"
    )
    parser.add_argument("--url", default=os.environ.get("REELSMITH_URL", DEFAULT_URL))
    parser.add_argument("--token", default=os.environ.get("REELSMITH_TOKEN"))
    parser.add_argument("--output-dir", default="data/demo", help="where the mp4 goes")
    args = parser.parse_args(argv)
    out = Output(False, stdout, stderr)
    api = Api(args.url, args.token)
    try:
        if not args.token:
            issued = tokens.obtain(api, "demo-client")
            api.close()
            api = Api(args.url, issued.token)
        path = run_demo(Session(api, out), Path(args.output_dir))
    except CliError as exc:
        out.error(exc.message, exc.error)
        return exc.exit_code
    finally:
        api.close()
    out.console.print(f"Your video: {path}", soft_wrap=True)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
