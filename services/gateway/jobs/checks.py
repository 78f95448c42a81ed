"""The job's checks, gateway side: a storyboard is preflighted whenever it is written (made,
refined, edited), approval is refused while it has errors unless the client overrides
them with a reason, and the job's `checks_status` is the worst of its preflight and the
QC of every output. The checks themselves are `shared/checks/` (preflight) and the
renderer's QC (measured on each file)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.gateway.http.errors import Conflict
from shared.checks.findings import (
    ChecksStatus,
    PreflightOverride,
    PreflightReport,
    worst,
)
from shared.checks.preflight import preflighted
from shared.models import GenerationRequest, Job, Storyboard


class PreflightFailed(Conflict):
    code = "preflight_failed"


def storyboard_columns(
    request: GenerationRequest, storyboard: Storyboard, report: PreflightReport | None = None
) -> dict[str, Any]:
    """The columns a new or changed storyboard writes: itself, its preflight (`report`,
    or made here), and no override (an override was about the storyboard it approved)."""
    report = report or preflighted(request, storyboard)
    return {
        "storyboard_data": storyboard.model_dump_json(
            exclude={"scenes": {"__all__": {"image_url"}}}
        ),
        "preflight": report.model_dump_json(),
        "preflight_override": None,
    }


def override_for(job: Job, reason: str | None, client_id: str) -> PreflightOverride | None:
    """The override an approval records, or PreflightFailed (409) listing the errors
    when the storyboard has some and no reason was given. None when nothing is overridden."""
    errors = job.preflight.errors if job.preflight is not None else []
    if not errors:
        return None
    if reason is None:
        raise PreflightFailed(
            f"the storyboard has {len(errors)} preflight error{'s' if len(errors) > 1 else ''};"
            ' fix them, or approve with {"override": {"reason": "..."}}',
            {"findings": [finding.model_dump(mode="json") for finding in errors]},
        )
    return PreflightOverride(
        reason=reason,
        by=client_id,
        at=datetime.now(UTC),
        findings=sorted({finding.check for finding in errors}),
    )


def checks_status(job: Job) -> ChecksStatus | None:
    return worst(
        [
            _preflight_status(job),
            *(output.qc.status for output in job.outputs if output.qc is not None),
        ]
    )


def _preflight_status(job: Job) -> ChecksStatus | None:
    """The preflight's status, where errors someone overrode with a reason count as
    warnings: accepted, not gone."""
    report, override = job.preflight, job.preflight_override
    if report is None or override is None or report.status != "fail":
        return None if report is None else report.status
    overridden = set(override.findings)
    if all(finding.check in overridden for finding in report.errors):
        return "warn"
    return "fail"
