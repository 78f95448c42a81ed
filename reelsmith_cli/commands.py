"""One function per `reelsmith` command: call the API, show the answer, return the exit
code. Each takes the parsed arguments and a `Session` (the API client and the output)."""

from __future__ import annotations

import argparse
import contextlib
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from reelsmith_cli import display, tokens
from reelsmith_cli.brief import brief_from
from reelsmith_cli.checks import blocking_errors, checks_report, warnings
from reelsmith_cli.client import (
    API,
    EXIT_CHECKS,
    EXIT_CLIENT,
    EXIT_JOB,
    EXIT_OK,
    Api,
    CliError,
    job_path,
)
from reelsmith_cli.display import ProgressView
from reelsmith_cli.follow import Job, JobFollower
from reelsmith_cli.output import Output

# A job paused for the budget goes on by itself (UTC midnight, or an admin raising
# today's limit): --wait keeps following it, and says why it waits.
UNFINISHED_STORYBOARD = frozenset({"queued", "storyboarding", "refining", "paused"})
JOB_ENDED_BADLY = frozenset({"failed", "canceled"})


@dataclass
class Session:
    api: Api
    out: Output
    use_sse: bool = True
    wait_timeout_s: float | None = None

    def follow(self, job: Job, done: Callable[[Job], bool]) -> Job:
        """Follow `job` until `done` (or a final state), with progress bars unless --json."""
        view = None if self.out.as_json else ProgressView(self.out.err)
        follower = JobFollower(
            self.api,
            job["id"],
            on_update=view.update if view else lambda _: None,
            use_sse=self.use_sse,
            timeout_s=self.wait_timeout_s,
        )
        with view or contextlib.nullcontext():
            return follower.until(done)

    def finish(self, job: Job, human: Callable[[Console], None]) -> int:
        """Show the job; exit 4 when it failed or was canceled."""
        self.out.emit(job, human)
        if job["status"] in JOB_ENDED_BADLY:
            reason = job.get("error_message") or job["status"]
            self.out.err.print(f"job {job['id']} {job['status']}: {reason}", style="red")
            return EXIT_JOB
        return EXIT_OK


def _summary(job: Job) -> Callable[[Console], None]:
    return lambda console: display.job_summary(console, job)


def _budget(args: argparse.Namespace) -> dict[str, str] | None:
    """`?on_budget=` when --on-budget was given (else the gateway's default, pause)."""
    return {"on_budget": args.on_budget} if args.on_budget else None


# --------------------------------------------------------------------------- commands


def token(args: argparse.Namespace, session: Session) -> int:
    issued = tokens.obtain(
        session.api,
        args.client_id,
        args.role,
        args.ttl,
        secret_file=args.secret_file,
        use_dev_login=args.dev_login,
    )
    # The token is this command's product: on stdout only, for `$(reelsmith token)`.
    session.out.emit(issued.as_json(), lambda console: console.print(issued.token, soft_wrap=True))
    return EXIT_OK


def upload(args: argparse.Namespace, session: Session) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(EXIT_CLIENT, f"no such file: {path}")
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    data = {"kind": args.kind} if args.kind else {}
    with path.open("rb") as handle:
        asset = session.api.json(
            "POST",
            f"{API}/upload-asset",
            files={"file": (path.name, handle, mime)},
            data=data,
            timeout=600.0,
        )

    def human(console: Console) -> None:
        size = f" {asset['width']}x{asset['height']}" if asset.get("width") else ""
        colours = " ".join(asset.get("dominant_colors") or [])
        console.print(
            f"{asset['asset_id']}  {asset['kind']} {asset['mime_type']}{size}"
            f" {asset['bytes']} bytes {colours}".rstrip()
        )

    session.out.emit(asset, human)
    return EXIT_OK


def estimate(args: argparse.Namespace, session: Session) -> int:
    params = {"backend": args.backend} if args.backend else None
    quote = session.api.json("POST", f"{API}/estimate", json=brief_from(args), params=params)
    session.out.emit(quote, lambda console: display.estimate_table(console, quote))
    return EXIT_OK


def generate(args: argparse.Namespace, session: Session) -> int:
    job = session.api.json("POST", f"{API}/jobs", json=brief_from(args), params=_budget(args))
    if not args.wait:
        session.out.emit(job, _summary(job))
        session.out.note(f"follow it: reelsmith status {job['id']}  (or generate --wait)")
        return EXIT_OK
    job = session.follow(job, lambda j: j["status"] not in UNFINISHED_STORYBOARD)
    code = session.finish(job, lambda console: display.storyboard_table(console, job))
    if code == EXIT_OK:
        session.out.note(f"review it, then: reelsmith approve {job['id']}")
    return code


def status(args: argparse.Namespace, session: Session) -> int:
    job = session.api.json("GET", job_path(args.job_id))
    session.out.emit(job, _summary(job))
    return EXIT_OK


def jobs(args: argparse.Namespace, session: Session) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.status:
        params["status"] = args.status
    if args.campaign:
        params["campaign_id"] = args.campaign
    items: list[Job] = []
    while True:
        page = session.api.json("GET", f"{API}/jobs", params=params)
        items += page["items"]
        if not args.all or not page.get("next_cursor"):
            break
        params["cursor"] = page["next_cursor"]
    result = {"items": items, "next_cursor": None if args.all else page.get("next_cursor")}
    session.out.emit(result, lambda console: display.jobs_table(console, items))
    if result["next_cursor"]:
        session.out.note("more jobs: add --all")
    return EXIT_OK


def storyboard(args: argparse.Namespace, session: Session) -> int:
    job = session.api.json("GET", job_path(args.job_id))
    scenes = (job.get("storyboard") or {}).get("scenes")
    if not scenes:
        raise CliError(EXIT_CLIENT, f"job {job['id']} has no storyboard yet ({job['status']})")
    if args.frames:
        folder = Path(args.frames)
        folder.mkdir(parents=True, exist_ok=True)
        for scene in scenes:
            target = folder / f"scene_{scene['index']}.jpg"
            session.api.download(scene["image_url"], target)
            scene["frame_path"] = str(target)
    session.out.emit(job["storyboard"], lambda console: display.storyboard_table(console, job))
    return EXIT_OK


def refine(args: argparse.Namespace, session: Session) -> int:
    job = session.api.json(
        "POST",
        job_path(args.job_id, "scenes", str(args.scene), "refine"),
        json={"feedback": args.feedback},
        params=_budget(args),
    )
    if not args.wait:
        session.out.emit(job, _summary(job))
        return EXIT_OK
    job = session.follow(job, lambda j: j["status"] not in ("refining", "paused"))
    code = session.finish(job, lambda console: display.storyboard_table(console, job))
    if code == EXIT_OK and job.get("error_message"):
        # A failed refinement keeps the storyboard as it was and says why.
        session.out.err.print(f"refinement failed: {job['error_message']}", style="red")
        return EXIT_JOB
    return code


def approve(args: argparse.Namespace, session: Session) -> int:
    body = {"override": {"reason": args.override}} if args.override is not None else None
    try:
        job = session.api.json("POST", job_path(args.job_id, "approve"), json=body)
    except CliError as exc:
        if exc.error.get("code") == "preflight_failed":
            session.out.note(
                f"see them: reelsmith checks {args.job_id}; fix the storyboard, or approve"
                f' anyway: reelsmith approve {args.job_id} --override "why it may run"'
            )
        raise
    session.out.emit(job, _summary(job))
    session.out.note(f"render it: reelsmith render {job['id']} --wait")
    return EXIT_OK


def checks(args: argparse.Namespace, session: Session) -> int:
    """Exit 5 while errors stand that nobody accepted (with --strict, warnings too)."""
    found = session.api.json("GET", job_path(args.job_id, "checks"))
    session.out.emit(found, lambda console: checks_report(console, found))
    blocking = blocking_errors(found) + (warnings(found) if args.strict else 0)
    if blocking:
        what = "problem(s)" if args.strict else "error(s)"
        session.out.err.print(f"{blocking} unresolved {what}", style="red")
        return EXIT_CHECKS
    return EXIT_OK


def render(args: argparse.Namespace, session: Session) -> int:
    job = session.api.json("POST", job_path(args.job_id, "render"), params=_budget(args))
    if not args.wait:
        session.out.emit(job, _summary(job))
        return EXIT_OK
    job = session.follow(job, lambda j: j["status"] not in ("rendering", "paused"))
    code = session.finish(job, _summary(job))
    if code == EXIT_OK:
        session.out.note(f"download it: reelsmith download {job['id']}")
    return code


def _export_outputs(job: Job) -> list[dict[str, Any]]:
    return [out for out in job.get("outputs") or [] if out["kind"] == "export"]


def _target(output: str | None, default_name: str) -> Path:
    """`-o`: a file, or a folder (existing, or named with a trailing slash) for the default
    name; none means the default name here."""
    if not output:
        return Path(default_name)
    target = Path(output)
    if output.endswith(("/", "\\")) or target.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return target / default_name
    return target


def download(args: argparse.Namespace, session: Session) -> int:
    if args.aspect:
        job = session.api.json("GET", job_path(args.job_id))
        matching = [
            out
            for out in _export_outputs(job)
            if out["aspect"] == args.aspect and out["variation"] == args.variation
        ]
        if not matching:
            raise CliError(
                EXIT_CLIENT,
                f"job {args.job_id} has no {args.aspect} export of variation {args.variation}"
                f" (reelsmith export {args.job_id} --aspect {args.aspect} --wait)",
            )
        url, params = matching[-1]["url"], None
        default_name = f"{args.job_id}-v{args.variation}-{args.aspect.replace(':', 'x')}.mp4"
    else:
        url, params = job_path(args.job_id, "video"), {"variation": args.variation}
        default_name = f"{args.job_id}-v{args.variation}.mp4"
    target = _target(args.output, default_name)
    size = session.api.download(url, target, params=params)
    result = {
        "job_id": args.job_id,
        "variation": args.variation,
        "aspect": args.aspect,
        "path": str(target.resolve()),
        "bytes": size,
    }
    session.out.emit(result, lambda console: console.print(result["path"], soft_wrap=True))
    session.out.note(f"{size / 1e6:.1f} MB")
    return EXIT_OK


def _save(
    session: Session, args: argparse.Namespace, name: str, default_name: str, what: str
) -> int:
    """Download one of a variation's files (`jobs/{id}/{name}`) to `-o` or `default_name`."""
    target = _target(args.output, default_name)
    size = session.api.download(
        job_path(args.job_id, name), target, params={"variation": args.variation}
    )
    result = {
        "job_id": args.job_id,
        "variation": args.variation,
        "kind": what,
        "path": str(target.resolve()),
        "bytes": size,
    }
    session.out.emit(result, lambda console: console.print(result["path"], soft_wrap=True))
    return EXIT_OK


def captions(args: argparse.Namespace, session: Session) -> int:
    extension = "srt" if args.srt else "vtt"
    default_name = f"{args.job_id}-v{args.variation}.{extension}"
    return _save(session, args, f"captions.{extension}", default_name, f"captions_{extension}")


def contact_sheet(args: argparse.Namespace, session: Session) -> int:
    default_name = f"{args.job_id}-v{args.variation}-contact-sheet.jpg"
    return _save(session, args, "contact-sheet.jpg", default_name, "contact_sheet")


def export(args: argparse.Namespace, session: Session) -> int:
    before = len(_export_outputs(session.api.json("GET", job_path(args.job_id))))
    job = session.api.json(
        "POST",
        job_path(args.job_id, "exports"),
        json={"aspect": args.aspect, "variation": args.variation},
    )
    if not (args.wait or args.output):
        session.out.emit(job, _summary(job))
        return EXIT_OK

    def finished(current: Job) -> bool:
        progress = current.get("progress") or {}
        failed = progress.get("stage") == "exporting" and not str(
            progress.get("message", "")
        ).startswith("exporting")
        ended = current["status"] in JOB_ENDED_BADLY
        return failed or ended or len(_export_outputs(current)) > before

    job = session.follow(job, finished)
    made = _export_outputs(job)[before:]
    if not made:
        message = (job.get("progress") or {}).get("message") or job["status"]
        session.out.emit(job, _summary(job))
        session.out.err.print(f"export failed: {message}", style="red")
        return EXIT_JOB
    if args.output:
        target = _target(args.output, made[-1]["url"].rsplit("/", 1)[-1])
        session.api.download(made[-1]["url"], target)
        made[-1]["path"] = str(target.resolve())
    session.out.emit(
        made[-1],
        lambda console: console.print(made[-1].get("path") or made[-1]["url"], soft_wrap=True),
    )
    return EXIT_OK


def cancel(args: argparse.Namespace, session: Session) -> int:
    job = session.api.json("POST", job_path(args.job_id, "cancel"))
    session.out.emit(job, _summary(job))
    return EXIT_OK


def retry(args: argparse.Namespace, session: Session) -> int:
    job = session.api.json("POST", job_path(args.job_id, "retry"), params=_budget(args))
    if not args.wait:
        session.out.emit(job, _summary(job))
        return EXIT_OK
    job = session.follow(
        job, lambda j: j["status"] in ("storyboard_ready", "completed", "failed", "canceled")
    )
    return session.finish(job, _summary(job))


COMMANDS: dict[str, Callable[[argparse.Namespace, Session], int]] = {
    "token": token,
    "upload": upload,
    "estimate": estimate,
    "generate": generate,
    "status": status,
    "jobs": jobs,
    "storyboard": storyboard,
    "refine": refine,
    "approve": approve,
    "checks": checks,
    "render": render,
    "download": download,
    "captions": captions,
    "contact-sheet": contact_sheet,
    "export": export,
    "cancel": cancel,
    "retry": retry,
}
