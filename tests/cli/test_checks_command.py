"""`reelsmith checks JOB` and `reelsmith approve JOB --override REASON` as a process: a brief
with a risky claim gets preflight errors at their scene (exit 5 while nobody accepted
them), a plain approval is refused listing them, an override with a reason approves it,
and after the render each file's QC and Content Credentials are printed."""

from __future__ import annotations

import io
import re
from typing import Any

from rich.console import Console

from reelsmith_cli.checks import checks_report
from tests.cli.support import process
from tests.support.system import System

CLAIM = "The guaranteed cure for dull skin"
REASON = "Legal reviewed the claim on 2026-12-01"


def flat(text: str) -> str:
    """Terminal output with its line wrapping and table padding folded to single spaces."""
    return " ".join(text.split())


async def test_checks_and_override_from_the_console_script(system: System) -> None:
    env = {"REELSMITH_URL": system.base_url, "REELSMITH_TOKEN": system.token()}

    # A short brief whose key message promises a cure, followed until its storyboard.
    run = await process(
        "--json", "generate", "--campaign", "risky", "--prompt", "Introducing Glow Serum.",
        "--platform", "tiktok", "--duration", "6", "--message", CLAIM, "--wait", env=env,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    job = run.json
    assert job["status"] == "storyboard_ready"
    claim_scene = next(
        s["index"] for s in job["storyboard"]["scenes"] if "guaranteed cure" in s["script"].lower()
    )

    # --json prints the gateway's checks document, as GET /jobs/{id}/checks answers it;
    # the preflight errors nobody accepted make it exit 5.
    run = await process("--json", "checks", job["id"], env=env)
    assert run.code == 5, run.stderr
    status, document, _ = await system.call("GET", f"/api/v2/jobs/{job['id']}/checks")
    assert status == 200 and run.json == document
    assert document["status"] == "fail" and document["override"] is None
    claim = next(
        f
        for f in document["preflight"]["findings"]
        if f["check"].startswith("claims.") and f["severity"] == "error"
    )
    assert claim["scene"] == claim_scene

    # For people: the status, then each finding with its scene and check.
    run = await process("checks", job["id"], env=env)
    assert run.code == 5
    screen = flat(run.stdout)
    assert f"checks of {job['id']}: fail" in screen
    assert re.search(rf"error scene {claim_scene} {re.escape(claim['check'])} ", screen), screen
    assert "guaranteed cure" in screen
    assert "unresolved error(s)" in run.stderr

    # A plain approval is refused (409 → exit 2), listing the errors and the way on.
    run = await process("approve", job["id"], env=env)
    assert run.code == 2
    errors = flat(run.stderr)
    assert "409 preflight_failed" in errors
    assert f"scene {claim_scene}: {flat(claim['message'])} ({claim['check']})" in errors
    assert f'reelsmith approve {job["id"]} --override "' in errors

    # An override needs a real reason: too short is a 422 naming the field.
    run = await process("approve", job["id"], "--override", "ok", env=env)
    assert run.code == 2 and "422" in run.stderr and "override.reason" in run.stderr

    # With a reason the storyboard is approved; the job records who overrode what.
    run = await process("--json", "approve", job["id"], "--override", REASON, env=env)
    assert run.code == 0, run.stderr
    approved = run.json
    assert approved["status"] == "approved"
    override = approved["preflight_override"]
    assert override["reason"] == REASON and override["by"] == "client-a"
    assert claim["check"] in override["findings"]

    # The errors are accepted now: exit 0, and the override is shown.
    run = await process("checks", job["id"], env=env)
    assert run.code == 0, run.stderr
    screen = flat(run.stdout)
    assert f"override: approved despite {', '.join(override['findings'])} by client-a" in screen
    assert repr(REASON) in screen

    # Render; each file's QC and Content Credentials are printed.
    run = await process("--json", "render", job["id"], "--wait", env=env)
    assert run.code == 0 and run.json["status"] == "completed", run.stderr
    run = await process("--json", "checks", job["id"], env=env)
    (output,) = run.json["outputs"]
    qc, credentials = output["qc"], output["credentials"]
    assert qc is not None and credentials is not None and credentials["signed"], output
    qc_errors = [f for f in qc["findings"] if f["severity"] == "error"]
    assert run.code == (5 if qc_errors else 0)
    run = await process("checks", job["id"], env=env)
    screen = flat(run.stdout)
    assert f"variation 1: QC {qc['status']}, {len(qc['findings'])} finding(s)" in screen
    assert (
        f"content credentials: signed, digital source type {credentials['digital_source_type']}"
        in screen
    )

    # The token never appears in the output.
    assert env["REELSMITH_TOKEN"] not in run.stdout + run.stderr


def test_qc_findings_are_printed_at_their_time_range() -> None:
    checks: dict[str, Any] = {
        "job_id": "j" * 32,
        "status": "fail",
        "preflight": {"status": "pass", "findings": [], "checked_at": None},
        "override": None,
        "outputs": [
            {
                "kind": "export",
                "variation": 2,
                "aspect": "1:1",
                "url": "/api/v2/jobs/j/exports/x.mp4",
                "qc": {
                    "status": "fail",
                    "findings": [
                        {
                            "check": "qc.black_frames",
                            "severity": "error",
                            "message": "1.3 s of black picture.",
                            "scene": None,
                            "start_s": 3.24,
                            "end_s": 4.5,
                            "thumbnail_url": "/api/v2/jobs/j/checks/black-3.jpg",
                        },
                        {
                            "check": "qc.frozen_picture",
                            "severity": "warning",
                            "message": "The picture stops.",
                            "start_s": 61.96,
                            "end_s": None,
                        },
                    ],
                    "measured": {"integrated_lufs": -14.2},
                    "seconds": 0.42,
                },
                "credentials": None,
            }
        ],
    }
    buffer = io.StringIO()
    checks_report(Console(file=buffer, width=160), checks)
    screen = flat(buffer.getvalue())
    assert "export 1:1 of variation 2: QC fail, 2 finding(s), measured in 0.4 s" in screen
    assert "error 0:03.2–0:04.5 qc.black_frames 1.3 s of black picture." in screen
    assert "warning 1:02.0 qc.frozen_picture The picture stops." in screen
    assert "measured: integrated_lufs -14.2" in screen
    assert "content credentials: none" in screen
