"""A job's lifecycle, without I/O: its statuses and the moves allowed between them, the
stages workers run for it, when a failed job may be retried, when paid work is held
(`paused`) and what it resumes into, which statuses a client's webhook hears about, how
long a poller waits, and the progress each move writes.

Commands, the projection of worker events, the reaper, the dead-letter consumer and a
client's retry all change a job's status. They ask this module whether they may; the
store (`jobs.store`) writes a status only through `check_transition`.

Example::

    check_command(JobStatus.storyboard_ready, Command.approve)  # -> JobStatus.approved
    check_command(JobStatus.completed, Command.approve)  # raises Refused("cannot approve ...")
    check_transition(JobStatus.canceled, JobStatus.queued)  # raises TransitionRefused
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal

from shared.models import Job, JobStatus, Progress, Storyboard

# --------------------------------------------------------------------------- stages


class Stage(StrEnum):
    """What a worker runs for a job. A job runs one of storyboard, refine and render at a
    time; its exports run side by side on the completed job, each its own stage, stored as
    `export:<export_id>` (`export_stage`). `Stage.export` is the kind of all of them."""

    storyboard = "storyboard"
    refine = "refine"
    render = "render"
    export = "export"


EXPORT_PREFIX = "export:"
LABELS: Mapping[str, str] = MappingProxyType(
    {
        Stage.storyboard: "storyboard",
        Stage.refine: "scene refinement",
        Stage.render: "render",
        Stage.export: "export",
    }
)


def export_stage(export_id: str) -> str:
    """The stored stage of one export: `export:<export_id>`."""
    return EXPORT_PREFIX + export_id


def is_export(stage: str) -> bool:
    return stage.startswith(EXPORT_PREFIX)


def export_id_of(stage: str) -> str:
    if not is_export(stage):
        raise ValueError(f"{stage!r} is not an export stage")
    return stage.removeprefix(EXPORT_PREFIX)


def kind_of(stage: str) -> Stage:
    """The `Stage` a stored stage is: itself, or `Stage.export` for `export:<id>`."""
    if is_export(stage):
        return Stage.export
    kind = Stage(stage)
    if kind is Stage.export:
        raise ValueError("an export's stage names the export: export:<export_id>")
    return kind


def stage_label(stage: str) -> str:
    """The stage as a client reads it in a message ("the scene refinement stalled ...")."""
    return LABELS[Stage.export] if is_export(stage) else LABELS.get(stage, stage)


# The job-level stage each running status belongs to (exports run on a completed job).
RUNNING: Mapping[JobStatus, Stage] = MappingProxyType(
    {
        JobStatus.queued: Stage.storyboard,
        JobStatus.storyboarding: Stage.storyboard,
        JobStatus.refining: Stage.refine,
        JobStatus.rendering: Stage.render,
    }
)
# The status a stage runs in once (re)started.
STARTED: Mapping[Stage, JobStatus] = MappingProxyType(
    {
        Stage.storyboard: JobStatus.queued,
        Stage.refine: JobStatus.refining,
        Stage.render: JobStatus.rendering,
    }
)


def running_stage(status: JobStatus) -> Stage | None:
    """The job-level stage a job in `status` waits on, if any."""
    return RUNNING.get(status)


def runs(status: JobStatus, *stages: Stage) -> bool:
    """Whether a job in `status` runs one of `stages`: a worker's answer about a stage
    applies only then (exports run while the job is completed)."""
    if Stage.export in stages and status == JobStatus.completed:
        return True
    return RUNNING.get(status) in stages


# --------------------------------------------------------------------------- transitions

INITIAL = JobStatus.queued
# Every status change the gateway makes, from the status on the left. A move to the same
# status rewrites it (a storyboard edited again, a stuck stage started again, a progress
# event); a completed job stays completed while its exports run.
TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = MappingProxyType(
    {
        # Waiting for the first storyboard, then making it (a stuck one is queued again).
        # Paused at once when the budget cannot take its storyboard.
        JobStatus.queued: frozenset(
            {
                JobStatus.queued,
                JobStatus.storyboarding,
                JobStatus.storyboard_ready,
                JobStatus.failed,
                JobStatus.canceled,
                JobStatus.paused,
            }
        ),
        JobStatus.storyboarding: frozenset(
            {
                JobStatus.queued,
                JobStatus.storyboarding,
                JobStatus.storyboard_ready,
                JobStatus.failed,
                JobStatus.canceled,
            }
        ),
        # Under review: edited, refined scene by scene (paused when the budget cannot
        # take the refinement), approved.
        JobStatus.storyboard_ready: frozenset(
            {
                JobStatus.storyboard_ready,
                JobStatus.refining,
                JobStatus.approved,
                JobStatus.canceled,
                JobStatus.paused,
            }
        ),
        # A refinement ends back in review, even when it fails; only a storyboard failure
        # that names no scene fails the job.
        JobStatus.refining: frozenset(
            {
                JobStatus.refining,
                JobStatus.storyboard_ready,
                JobStatus.failed,
                JobStatus.canceled,
            }
        ),
        # An edit or a refinement withdraws the approval; a refinement or the render the
        # budget cannot take is paused.
        JobStatus.approved: frozenset(
            {
                JobStatus.storyboard_ready,
                JobStatus.refining,
                JobStatus.rendering,
                JobStatus.canceled,
                JobStatus.paused,
            }
        ),
        JobStatus.rendering: frozenset(
            {JobStatus.rendering, JobStatus.completed, JobStatus.failed, JobStatus.canceled}
        ),
        JobStatus.completed: frozenset({JobStatus.completed}),
        # A retry starts the failed stage again: a storyboard is queued, a render renders;
        # or the retry waits for budget.
        JobStatus.failed: frozenset({JobStatus.queued, JobStatus.rendering, JobStatus.paused}),
        JobStatus.canceled: frozenset(),
        # Held paid work: resumes into the status its stage starts in, or is canceled.
        JobStatus.paused: frozenset(
            {JobStatus.queued, JobStatus.refining, JobStatus.rendering, JobStatus.canceled}
        ),
    }
)


class Refused(Exception):
    """A change the job's status does not allow; `message` and `details` are written for
    the client (the commands answer them as a 409)."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotApproved(Refused):
    """A render asked for before the storyboard was approved (answered as a 403)."""


class TransitionRefused(Refused):
    """A status change no rule allows: a mistake in the gateway, never a client's."""


def allows(current: JobStatus, new: JobStatus) -> bool:
    return new in TRANSITIONS[current]


def check_transition(current: JobStatus, new: JobStatus) -> None:
    if not allows(current, new):
        raise TransitionRefused(
            f"a job cannot go from {current} to {new}", {"status": current, "to": new}
        )


class Command(StrEnum):
    """What a client asks of a job."""

    edit = "edit"
    refine = "refine"
    approve = "approve"
    render = "render"
    export = "export"
    cancel = "cancel"


@dataclass(frozen=True)
class Rule:
    action: str  # as a refusal names it: "cannot {action} while the job is ..."
    sources: tuple[JobStatus, ...]  # in the order a refusal lists them
    target: JobStatus


# The statuses a render is refused in with "approve it first" rather than a conflict.
NOT_YET_APPROVED = (
    JobStatus.queued,
    JobStatus.storyboarding,
    JobStatus.storyboard_ready,
    JobStatus.refining,
)
EDITABLE = (JobStatus.storyboard_ready, JobStatus.approved)
COMMANDS: Mapping[Command, Rule] = MappingProxyType(
    {
        Command.edit: Rule("edit the storyboard", EDITABLE, JobStatus.storyboard_ready),
        Command.refine: Rule("refine a scene", EDITABLE, JobStatus.refining),
        Command.approve: Rule("approve", (JobStatus.storyboard_ready,), JobStatus.approved),
        Command.render: Rule("render", (JobStatus.approved,), JobStatus.rendering),
        # An export leaves the job completed (its outputs grow).
        Command.export: Rule("export", (JobStatus.completed,), JobStatus.completed),
        Command.cancel: Rule(
            "cancel", tuple(s for s in JobStatus if not s.is_final), JobStatus.canceled
        ),
    }
)


def check_command(status: JobStatus, command: Command) -> JobStatus:
    """The status `command` moves a job in `status` to; Refused (NotApproved for a render
    of a storyboard still in the making or in review) when it may not."""
    rule = COMMANDS[command]
    if command == Command.cancel and status.is_final:
        raise Refused(f"job is already {status}; nothing to cancel")
    if command == Command.render and status in NOT_YET_APPROVED:
        raise NotApproved(
            "the storyboard must be approved before it is rendered", {"status": status}
        )
    if status not in rule.sources:
        wanted = " or ".join(rule.sources)
        raise Refused(
            f"cannot {rule.action} while the job is {status} (needs {wanted})",
            {"status": status},
        )
    return rule.target


# --------------------------------------------------------------------------- retry

RETRYABLE = (Stage.storyboard, Stage.render)


def can_retry(status: JobStatus, failed_stage: str | None, storyboard: Storyboard | None) -> bool:
    """A failed job restarts from its failed stage; a render needs the storyboard it had."""
    if status != JobStatus.failed or failed_stage not in RETRYABLE:
        return False
    return failed_stage == Stage.storyboard or storyboard is not None


def retry_stage(job: Job) -> Stage:
    """The stage a retry of `job` starts again; Refused when the job is not failed or did
    not fail in a stage that can start again."""
    if job.status != JobStatus.failed:
        raise Refused(
            f"only a failed job can be retried; this one is {job.status}", {"status": job.status}
        )
    if job.failed_stage is None or not can_retry(job.status, job.failed_stage, job.storyboard):
        raise Refused(
            "this job cannot be retried: it did not fail in a stage that can start again",
            {"status": job.status, "failed_stage": job.failed_stage},
        )
    return Stage(job.failed_stage)


# --------------------------------------------------------------------------- pauses
# Paid work the daily budget cannot take is accepted and held: the job is `paused` before
# the stage, and resumes into the status that stage starts in (`STARTED`) once billing
# takes it (a new UTC day, or an admin raising today's limit). Only a cancel is asked of
# a paused job.

PAUSED_STAGES = (Stage.storyboard, Stage.refine, Stage.render)
RESUMES = "at UTC midnight, or as soon as an admin raises today's limit"


def resumed_status(stage: Stage) -> JobStatus:
    """The status a paused job goes to when its held `stage` starts."""
    if stage not in PAUSED_STAGES:
        raise ValueError(f"a {stage_label(stage)} is never paused")
    return STARTED[stage]


def pause_message(stage: Stage) -> str:
    return f"paused: the daily budget is exhausted; the {stage_label(stage)} starts {RESUMES}"


def paused_progress(stage: Stage) -> Progress:
    return Progress(stage=JobStatus.paused.value, percent=0, message=pause_message(stage))


# --------------------------------------------------------------------------- webhooks

WebhookType = Literal["storyboard_ready", "completed", "failed", "canceled", "paused", "resumed"]
# The statuses a job's `webhook_url` is told about, and the webhook's type for each.
NOTIFIED: Mapping[JobStatus, WebhookType] = MappingProxyType(
    {
        JobStatus.storyboard_ready: "storyboard_ready",
        JobStatus.completed: "completed",
        JobStatus.failed: "failed",
        JobStatus.canceled: "canceled",
        JobStatus.paused: "paused",
    }
)
# A paused job whose held stage started: announced whatever status it runs in.
RESUMED: WebhookType = "resumed"

# --------------------------------------------------------------------------- polling

MIN_POLL_MS = 2000
MAX_POLL_MS = 10000
# A paused job waits for a new day or an admin: nothing to see for a while.
PAUSED_POLL_MS = 15000

_MOVING = {JobStatus.storyboarding, JobStatus.refining, JobStatus.rendering}


def poll_after_ms(status: JobStatus, percent: float = 0.0) -> int:
    """Short while work moves (shorter near the end), long while the job waits for the
    user or is finished, longest while it waits for budget; 2000-10000 ms, 15000 paused."""
    if status in _MOVING:
        return MIN_POLL_MS if percent >= 50 else 3000
    if status == JobStatus.queued:
        return 3000
    if status == JobStatus.paused:
        return PAUSED_POLL_MS
    return MAX_POLL_MS


# --------------------------------------------------------------------------- progress
# The `Progress` each move writes; its messages are what clients and the console show.


def queued_progress() -> Progress:
    return Progress(stage=JobStatus.queued.value, message="waiting for a storyboard worker")


def storyboard_ready_progress(message: str) -> Progress:
    return Progress(stage=JobStatus.storyboard_ready.value, percent=100, message=message)


def storyboard_made_progress(scene_count: int, refined_scene: int | None) -> Progress:
    done = (
        f"scene {refined_scene} refined"
        if refined_scene
        else f"{scene_count} scenes ready for review"
    )
    return storyboard_ready_progress(done)


def refining_progress(scene_index: int) -> Progress:
    return Progress(
        stage=JobStatus.refining.value, percent=0, message=f"refining scene {scene_index}"
    )


def approved_progress() -> Progress:
    return Progress(stage=JobStatus.approved.value, percent=100, message="ready to render")


def rendering_progress() -> Progress:
    return Progress(stage=JobStatus.rendering.value, percent=0, message="waiting for a renderer")


def exporting_progress(message: str) -> Progress:
    return Progress(stage="exporting", percent=0, message=message)


def rendered_progress(video_count: int) -> Progress:
    plural = "s" if video_count > 1 else ""
    return Progress(
        stage=JobStatus.completed.value, percent=100, message=f"{video_count} video{plural} ready"
    )


def exported_progress() -> Progress:
    return Progress(stage=JobStatus.completed.value, percent=100, message="export ready")


def restarted_progress(stage: Stage, message: str) -> Progress:
    """A job-level stage started again: the status it runs in, from 0."""
    return Progress(stage=STARTED[stage].value, percent=0, message=message)


def with_message(progress: Progress, message: str) -> Progress:
    """The progress as it was, saying why it stopped (a failure, a cancel)."""
    return progress.model_copy(update={"message": message})


CANCELED_MESSAGE = "canceled"
