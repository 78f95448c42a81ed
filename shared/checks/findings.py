"""What the checks say about a job: preflight findings on the storyboard (free, before the
paid render) and QC findings measured on every rendered file, in one shape.

Each finding names its `check` (a dotted name such as `claims.absolute_wording` or
`qc.black_frames`), a `severity` (`error` blocks approval or fails QC, `warning`,
`info`), what it concerns (a scene, or a time range of a file) and a message a marketer
understands. A report's `status` is the worst of its findings: `fail` with an error,
`warn` with a warning, else `pass`.

Example::

    report = PreflightReport.of([Finding(check="claims.absolute_wording", severity="error",
                                         scene=2, message='"guaranteed" promises ...')])
    report.status                                   # "fail"
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["error", "warning", "info"]
ChecksStatus = Literal["pass", "warn", "fail"]
# The IPTC digital source types a video can declare in its Content Credentials.
DigitalSourceType = Literal[
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
    "compositeSynthetic",
    "digitalCreation",
]


class Finding(BaseModel):
    check: str = Field(description="What was checked, e.g. `claims.absolute_wording`.")
    severity: Severity
    message: str = Field(description="What is wrong and what to do, in plain words.")
    scene: int | None = Field(default=None, description="The scene it concerns (preflight).")
    start_s: float | None = Field(default=None, description="Where it starts in the video (QC).")
    end_s: float | None = Field(default=None, description="Where it ends in the video (QC).")
    # Not excluded from serialisation: the key rides from the renderer to the gateway in
    # `jobs.render.completed` and is stored with the job (the gateway serves it by name).
    thumbnail_key: str | None = Field(
        default=None, description="Where the renderer stored the thumbnail (storage key)."
    )
    thumbnail_url: str | None = Field(default=None, description="A frame showing it (QC).")


def status_of(findings: Iterable[Finding]) -> ChecksStatus:
    severities = {finding.severity for finding in findings}
    if "error" in severities:
        return "fail"
    return "warn" if "warning" in severities else "pass"


def worst(statuses: Iterable[ChecksStatus | None]) -> ChecksStatus | None:
    """The worst of several reports' statuses (None when there is none)."""
    found: ChecksStatus | None = None
    for status in statuses:
        if status is not None and (found is None or _RANK[status] > _RANK[found]):
            found = status
    return found


_RANK: dict[ChecksStatus, int] = {"pass": 0, "warn": 1, "fail": 2}


class PreflightReport(BaseModel):
    """Free checks of the storyboard against the brief, the brand kit and the platform,
    made when it is ready and again after every edit or refinement."""

    status: ChecksStatus
    findings: list[Finding] = Field(default_factory=list)
    checked_at: datetime | None = None

    @classmethod
    def of(cls, findings: list[Finding], checked_at: datetime | None = None) -> PreflightReport:
        return cls(status=status_of(findings), findings=findings, checked_at=checked_at)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == "error"]


class PreflightOverride(BaseModel):
    """Approval despite preflight errors: why, by whom, when."""

    reason: str
    by: str = Field(description="The client id of whoever approved.")
    at: datetime
    findings: list[str] = Field(
        default_factory=list, description="The checks that were overridden."
    )


class QcReport(BaseModel):
    """What was measured on one rendered file."""

    status: ChecksStatus
    findings: list[Finding] = Field(default_factory=list)
    measured: dict[str, float | int | str | bool] = Field(
        default_factory=dict,
        description="The figures behind the checks (loudness, true peak, bitrate, ...).",
    )
    seconds: float = Field(default=0.0, description="How long the checks took.")

    @classmethod
    def of(
        cls,
        findings: list[Finding],
        measured: dict[str, float | int | str | bool],
        seconds: float = 0.0,
    ) -> QcReport:
        return cls(
            status=status_of(findings), findings=findings, measured=measured, seconds=seconds
        )


class ContentCredentials(BaseModel):
    """The C2PA manifest embedded in a file (what TikTok, YouTube and Meta read to label
    AI content)."""

    signed: bool
    digital_source_type: DigitalSourceType | None = None
    models: list[str] = Field(default_factory=list, description="Generative models used.")
    generator: str | None = Field(default=None, description="Software and version.")
    label: str | None = Field(default=None, description="The manifest's label.")
