"""What the checks found about a job (`GET /jobs/{id}/checks`), for a terminal: preflight
findings at their scene, each file's QC findings at their time range, its Content
Credentials; and whether anything still stands in the way of running the ad.

Example::

    checks = api.json("GET", job_path(job_id, "checks"))
    checks_report(console, checks)
    blocking_errors(checks)        # 0: nothing unresolved
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

Checks = dict[str, Any]
Finding = dict[str, Any]
STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red"}
SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "dim"}


def clock(seconds: float) -> str:
    """3.24 → "0:03.2": minutes, then seconds to a tenth."""
    tenths = int(seconds * 10 + 0.5)
    minutes, rest = divmod(tenths, 600)
    return f"{minutes}:{rest / 10:04.1f}"


def place(finding: Finding) -> str:
    """Where a finding is: its time range in the file (QC) or its scene (preflight)."""
    start, end = finding.get("start_s"), finding.get("end_s")
    if start is not None:
        return f"{clock(start)}–{clock(end)}" if end is not None and end > start else clock(start)
    if finding.get("scene"):
        return f"scene {finding['scene']}"
    return "whole video"


def blocking_errors(checks: Checks) -> int:
    """Errors nobody accepted: QC errors on any file, and preflight errors unless an
    override approved the storyboard despite them (an edit clears the override)."""

    def errors(report: dict[str, Any] | None) -> int:
        findings = (report or {}).get("findings") or []
        return sum(finding["severity"] == "error" for finding in findings)

    preflight = 0 if checks.get("override") else errors(checks.get("preflight"))
    return preflight + sum(errors(output.get("qc")) for output in checks.get("outputs") or [])


def warnings(checks: Checks) -> int:
    reports = [checks.get("preflight")] + [o.get("qc") for o in checks.get("outputs") or []]
    return sum(
        finding["severity"] == "warning"
        for report in reports
        for finding in (report or {}).get("findings") or []
    )


def status_text(status: str | None) -> Text:
    if status is None:
        return Text("not checked yet", style="dim")
    return Text(status, style=f"bold {STATUS_STYLE.get(status, '')}".strip())


def findings_table(findings: list[Finding]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("severity", no_wrap=True)
    table.add_column("where", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("message", ratio=1)
    for finding in findings:
        severity = finding["severity"]
        table.add_row(
            Text(severity, style=SEVERITY_STYLE.get(severity, "")),
            place(finding),
            finding["check"],
            finding["message"],
        )
    return table


def credentials_text(credentials: dict[str, Any] | None) -> Text:
    if credentials is None:
        return Text("none", style="yellow")
    if not credentials.get("signed"):
        return Text("not signed", style="yellow")
    text = Text("signed", style="green")
    if source := credentials.get("digital_source_type"):
        text.append(f", digital source type {source}")
    if models := credentials.get("models"):
        text.append(f", models {', '.join(models)}")
    if generator := credentials.get("generator"):
        text.append(f", by {generator}")
    return text


def output_label(output: dict[str, Any]) -> str:
    if output["kind"] == "export":
        aspect = f"{output['aspect']} " if output.get("aspect") else ""
        return f"export {aspect}of variation {output['variation']}"
    return f"variation {output['variation']}"


def checks_report(console: Console, checks: Checks) -> None:
    console.print(Text(f"checks of {checks['job_id']}: ") + status_text(checks.get("status")))
    preflight = checks.get("preflight")
    if preflight is None:
        console.print(Text("preflight: not run yet (no storyboard)", style="dim"))
    else:
        head = Text("preflight: ") + status_text(preflight["status"])
        head.append(f", {len(preflight['findings'])} finding(s)")
        console.print(head)
        if preflight["findings"]:
            console.print(findings_table(preflight["findings"]))
    if override := checks.get("override"):
        overridden = ", ".join(override.get("findings") or []) or "its errors"
        console.print(
            Text("override: ", style="yellow")
            + Text(
                f"approved despite {overridden} by {override['by']} at {override['at']}:"
                f" {override['reason']!r}"
            )
        )
    for output in checks.get("outputs") or []:
        qc = output.get("qc")
        head = Text(f"{output_label(output)}: QC ")
        if qc is None:
            head.append("not measured yet", style="dim")
        else:
            head += status_text(qc["status"])
            head.append(f", {len(qc['findings'])} finding(s), measured in {qc['seconds']:.1f} s")
        console.print(head)
        if qc and qc["findings"]:
            console.print(findings_table(qc["findings"]))
        if qc and qc.get("measured"):
            figures = ", ".join(f"{k} {v}" for k, v in qc["measured"].items())
            console.print(Text(f"  measured: {figures}", style="dim"))
        console.print(Text("  content credentials: ") + credentials_text(output.get("credentials")))
