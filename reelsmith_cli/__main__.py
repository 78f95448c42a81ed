"""`reelsmith`: the gateway's HTTP API from a terminal.

    reelsmith generate --campaign spring --prompt "Glow Serum ..." --platform tiktok \\
        --duration 15 --wait
    reelsmith approve JOB && reelsmith render JOB --wait && reelsmith download JOB
    reelsmith checks JOB    # preflight and QC findings, Content Credentials

Gateway and token from --url/--token or REELSMITH_URL/REELSMITH_TOKEN. Exit codes: 0 ok,
2 usage or client error (4xx), 3 server error or unreachable, 4 the job failed/canceled,
5 `checks` found errors nobody accepted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from reelsmith_cli.brief import add_brief_options
from reelsmith_cli.client import DEFAULT_URL, EXIT_CLIENT, Api, CliError
from reelsmith_cli.commands import COMMANDS, Session
from reelsmith_cli.output import Output

ASPECTS = ("9:16", "1:1", "16:9")
ASSET_KINDS = ("image", "logo", "font", "audio", "video")
STATUSES = (
    "queued",
    "storyboarding",
    "storyboard_ready",
    "refining",
    "approved",
    "rendering",
    "completed",
    "failed",
    "canceled",
    "paused",
)


def _common(defaults: bool) -> argparse.ArgumentParser:
    """Options accepted before or after the command; only the top level has defaults, so
    a subcommand's unset option does not overwrite one given before it."""
    keep: dict[str, Any] = {} if defaults else {"default": argparse.SUPPRESS}
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("connection and output")
    group.add_argument("--url", help=f"gateway URL (REELSMITH_URL, default {DEFAULT_URL})", **keep)
    group.add_argument("--token", help="bearer token (REELSMITH_TOKEN); never printed", **keep)
    group.add_argument(
        "--json",
        action="store_true",
        help="machine-readable JSON on stdout, nothing else",
        **({"default": False} if defaults else keep),
    )
    group.add_argument(
        "--poll",
        action="store_true",
        help="follow jobs by polling instead of the event stream",
        **({"default": False} if defaults else keep),
    )
    group.add_argument(
        "--wait-timeout",
        type=float,
        metavar="S",
        help="give up waiting after S seconds (exit 3; the job carries on)",
        **keep,
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reelsmith",
        description="Short ad videos from a brief, from the terminal.",
        parents=[_common(defaults=True)],
        epilog="exit codes: 0 ok, 2 usage/client error (4xx), 3 server error or"
        " unreachable, 4 job failed or canceled, 5 checks found errors nobody accepted",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = [_common(defaults=False)]

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text, parents=shared)

    def job_id(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("job_id", metavar="JOB", help="job id")

    def wait(sub: argparse.ArgumentParser, what: str) -> None:
        sub.add_argument("--wait", action="store_true", help=f"follow progress until {what}")

    def on_budget(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--on-budget",
            choices=("pause", "reject"),
            help="paid work over the hard daily limit: pause (the gateway's default: the job"
            " waits and goes on by itself) or reject (exit 2, daily_budget_exhausted)",
        )

    sub = command("token", "issue a bearer token (JWT_SECRET / make run's secret, or dev login)")
    sub.add_argument("--client-id", default="dev-client", help="client id (default dev-client)")
    sub.add_argument("--role", choices=("client", "admin"), default="client")
    sub.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    sub.add_argument("--secret-file", help="file holding JWT_SECRET (default data/.jwt_secret)")
    sub.add_argument(
        "--dev-login", action="store_true", help="ask the gateway (POST /api/v2/dev/token)"
    )

    sub = command("upload", "upload an asset (image, logo, font, audio, video)")
    sub.add_argument("file", metavar="FILE")
    sub.add_argument(
        "--kind", choices=ASSET_KINDS, help="what the file is for (default: from its content)"
    )

    sub = command("estimate", "price a brief before submitting it")
    add_brief_options(sub)
    sub.add_argument("--backend", choices=("local", "replicate"), help="price on this backend")

    sub = command("generate", "submit a brief; the storyboard is made for review")
    add_brief_options(sub)
    wait(sub, "the storyboard is ready")
    on_budget(sub)

    sub = command("status", "show a job")
    job_id(sub)

    sub = command("jobs", "list jobs, newest first")
    sub.add_argument("--status", choices=STATUSES)
    sub.add_argument("--campaign", help="only this campaign id")
    sub.add_argument("--limit", type=int, default=20, help="per page, 1-100")
    sub.add_argument("--all", action="store_true", help="every page")

    sub = command("storyboard", "show a job's storyboard as a table")
    job_id(sub)
    sub.add_argument("--frames", metavar="DIR", help="also save each scene's frame here")

    sub = command("refine", "redo one scene with feedback")
    job_id(sub)
    sub.add_argument("scene", type=int, metavar="N", help="scene number")
    sub.add_argument("--feedback", required=True, help="what to change")
    wait(sub, "the scene is redone")
    on_budget(sub)

    sub = command("approve", "approve the storyboard (rendering needs it)")
    job_id(sub)
    sub.add_argument(
        "--override",
        metavar="REASON",
        help="approve despite preflight errors; the reason is recorded with your client id",
    )

    sub = command(
        "checks",
        "preflight findings (by scene), QC of each file (by time range), Content Credentials;"
        " exit 5 while errors stand that nobody accepted (preflight errors count until an"
        " approval overrides them)",
    )
    job_id(sub)
    sub.add_argument("--strict", action="store_true", help="exit 5 on warnings too")

    sub = command("render", "render the approved storyboard")
    job_id(sub)
    wait(sub, "the video is ready")
    on_budget(sub)

    sub = command("download", "save a finished video (mp4)")
    job_id(sub)
    sub.add_argument("-o", "--output", help="file or folder (default ./JOB-vK.mp4)")
    sub.add_argument("--variation", type=int, default=1)
    sub.add_argument("--aspect", choices=ASPECTS, help="an export in this aspect instead")

    sub = command("captions", "save a finished video's captions (WebVTT, or SRT)")
    job_id(sub)
    sub.add_argument("--srt", action="store_true", help="SRT instead of WebVTT")
    sub.add_argument("--variation", type=int, default=1)
    sub.add_argument("-o", "--output", help="file or folder (default ./JOB-vK.vtt|.srt)")

    sub = command("contact-sheet", "save a finished video's contact sheet (JPEG, a frame a scene)")
    job_id(sub)
    sub.add_argument("--variation", type=int, default=1)
    sub.add_argument("-o", "--output", required=True, help="file or folder")

    sub = command("export", "reframe a finished video to another aspect ratio")
    job_id(sub)
    sub.add_argument("--aspect", choices=ASPECTS, required=True)
    sub.add_argument("--variation", type=int, default=1)
    wait(sub, "the export is ready")
    sub.add_argument("-o", "--output", help="download the export here (implies --wait)")

    sub = command("cancel", "cancel a job")
    job_id(sub)

    sub = command("retry", "start a failed job again from the stage that failed")
    job_id(sub)
    wait(sub, "the stage is done again")
    on_budget(sub)
    return parser


def main(
    argv: Sequence[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    out = Output(args.json, stdout, stderr)
    url = args.url or os.environ.get("REELSMITH_URL") or DEFAULT_URL
    api = Api(url, args.token or os.environ.get("REELSMITH_TOKEN"))
    session = Session(api, out, use_sse=not args.poll, wait_timeout_s=args.wait_timeout)
    try:
        return COMMANDS[args.command](args, session)
    except CliError as exc:
        out.error(exc.message, exc.error)
        return exc.exit_code
    except KeyboardInterrupt:
        out.error("interrupted; a job keeps running on the gateway", {"code": "interrupted"})
        return 130
    except OSError as exc:
        out.error(f"{exc.strerror or exc}", {"code": "os_error", "message": str(exc)})
        return EXIT_CLIENT
    finally:
        api.close()


if __name__ == "__main__":
    sys.exit(main())
