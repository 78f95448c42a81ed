"""The job's lifecycle, driven directly: every status change allowed and every other one
refused, what each client command may do from each status (with the messages clients
read), retry eligibility, pauses over the daily budget and what they resume into, the
poll interval, stage names as they are stored, and the progress each move writes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from services.gateway.jobs.lifecycle import (
    COMMANDS,
    INITIAL,
    MAX_POLL_MS,
    MIN_POLL_MS,
    NOTIFIED,
    PAUSED_POLL_MS,
    PAUSED_STAGES,
    RESUMED,
    RESUMES,
    RUNNING,
    STARTED,
    TRANSITIONS,
    Command,
    NotApproved,
    Refused,
    Stage,
    TransitionRefused,
    allows,
    approved_progress,
    can_retry,
    check_command,
    check_transition,
    export_id_of,
    export_stage,
    exported_progress,
    exporting_progress,
    is_export,
    kind_of,
    pause_message,
    paused_progress,
    poll_after_ms,
    queued_progress,
    refining_progress,
    rendered_progress,
    rendering_progress,
    restarted_progress,
    resumed_status,
    retry_stage,
    running_stage,
    runs,
    stage_label,
    storyboard_made_progress,
    storyboard_ready_progress,
    with_message,
)
from shared.models import Job, JobStatus, Progress, Scene, Storyboard

S = JobStatus
# Every status change the gateway makes today, spelled out once more: the table in
# `lifecycle` must match it exactly (a new move is a decision, not an accident).
ALLOWED = {
    # commands
    (S.storyboard_ready, S.storyboard_ready),  # edit
    (S.approved, S.storyboard_ready),  # edit withdraws the approval
    (S.storyboard_ready, S.refining),  # refine
    (S.approved, S.refining),
    (S.storyboard_ready, S.approved),  # approve
    (S.approved, S.rendering),  # render
    (S.completed, S.completed),  # export
    *((status, S.canceled) for status in S if not status.is_final),  # cancel
    # worker events (projection)
    (S.queued, S.storyboarding),
    (S.storyboarding, S.storyboarding),
    (S.refining, S.refining),
    (S.queued, S.storyboard_ready),
    (S.storyboarding, S.storyboard_ready),
    (S.refining, S.storyboard_ready),
    (S.queued, S.failed),
    (S.storyboarding, S.failed),
    (S.refining, S.failed),  # a storyboard failure that names no scene
    (S.rendering, S.completed),
    (S.rendering, S.failed),
    # the reaper starts a stuck stage again
    (S.queued, S.queued),
    (S.storyboarding, S.queued),
    (S.rendering, S.rendering),
    # a client's retry
    (S.failed, S.queued),
    (S.failed, S.rendering),
    # paid work over the hard daily limit is held: the storyboard of a new job, a
    # refinement, the render, a retry ...
    (S.queued, S.paused),
    (S.storyboard_ready, S.paused),
    (S.approved, S.paused),
    (S.failed, S.paused),
    # ... and resumes into the status its stage starts in
    (S.paused, S.queued),
    (S.paused, S.refining),
    (S.paused, S.rendering),
}
PAIRS = list(itertools.product(JobStatus, JobStatus))


def a_job(status: JobStatus, failed_stage: str | None = None, storyboard: bool = True) -> Job:
    now = datetime.now(UTC)
    return Job.model_validate(
        {
            "id": "job1",
            "campaign_id": "c",
            "status": status,
            "failed_stage": failed_stage,
            "storyboard": a_storyboard() if storyboard else None,
            "created_at": now,
            "updated_at": now,
        }
    )


def a_storyboard() -> Storyboard:
    scene = Scene(index=1, script="s", caption="c", visual_prompt="v", duration_s=5)
    return Storyboard(scenes=[scene])


# --------------------------------------------------------------------------- transitions


@pytest.mark.parametrize(("current", "new"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_each_status_change_is_allowed_or_refused(current: JobStatus, new: JobStatus) -> None:
    assert allows(current, new) == ((current, new) in ALLOWED)
    if (current, new) in ALLOWED:
        check_transition(current, new)
    else:
        with pytest.raises(TransitionRefused) as refused:
            check_transition(current, new)
        assert refused.value.message == f"a job cannot go from {current} to {new}"
        assert refused.value.details == {"status": current, "to": new}


def test_the_table_names_every_status_and_the_final_ones_stay_put() -> None:
    assert set(TRANSITIONS) == set(JobStatus)
    assert INITIAL is JobStatus.queued
    # Completed only stays completed (exports); failed only restarts; canceled is the end.
    assert TRANSITIONS[S.completed] == {S.completed}
    assert TRANSITIONS[S.failed] == {S.queued, S.rendering, S.paused}
    assert TRANSITIONS[S.canceled] == frozenset()
    # A paused job is not final: it resumes or is canceled, nothing else.
    assert not S.paused.is_final
    assert TRANSITIONS[S.paused] == {S.queued, S.refining, S.rendering, S.canceled}


# --------------------------------------------------------------------------- commands

# What each command moves an allowed job to, and the message of a refusal otherwise.
TARGETS = {
    Command.edit: S.storyboard_ready,
    Command.refine: S.refining,
    Command.approve: S.approved,
    Command.render: S.rendering,
    Command.export: S.completed,
    Command.cancel: S.canceled,
}
SOURCES = {
    Command.edit: {S.storyboard_ready, S.approved},
    Command.refine: {S.storyboard_ready, S.approved},
    Command.approve: {S.storyboard_ready},
    Command.render: {S.approved},
    Command.export: {S.completed},
    Command.cancel: {s for s in S if not s.is_final},  # paused included
}
COMMAND_CASES = list(itertools.product(Command, JobStatus))


@pytest.mark.parametrize(
    ("command", "status"), COMMAND_CASES, ids=[f"{c}@{s}" for c, s in COMMAND_CASES]
)
def test_each_command_from_each_status(command: Command, status: JobStatus) -> None:
    if status in SOURCES[command]:
        target = check_command(status, command)
        assert target == TARGETS[command]
        # A command only makes moves the table allows.
        assert allows(status, target)
        return
    with pytest.raises(Refused) as refused:
        check_command(status, command)
    error = refused.value
    if command == Command.cancel:
        assert error.message == f"job is already {status}; nothing to cancel"
        assert error.details is None
    elif command == Command.render and status in (
        S.queued,
        S.storyboarding,
        S.storyboard_ready,
        S.refining,
    ):
        assert isinstance(error, NotApproved)
        assert error.message == "the storyboard must be approved before it is rendered"
        assert error.details == {"status": status}
    else:
        assert not isinstance(error, NotApproved)
        wanted = " or ".join(COMMANDS[command].sources)
        assert error.message == (
            f"cannot {COMMANDS[command].action} while the job is {status} (needs {wanted})"
        )
        assert error.details == {"status": status}


def test_refusals_read_as_they_always_have() -> None:
    # The exact sentences clients (and their tests) see in a 409.
    with pytest.raises(Refused, match=r"^cannot edit the storyboard while the job is rendering"):
        check_command(S.rendering, Command.edit)
    with pytest.raises(Refused) as refused:
        check_command(S.queued, Command.refine)
    assert refused.value.message == (
        "cannot refine a scene while the job is queued (needs storyboard_ready or approved)"
    )
    with pytest.raises(Refused) as refused:
        check_command(S.failed, Command.render)
    assert refused.value.message == "cannot render while the job is failed (needs approved)"
    with pytest.raises(Refused) as refused:
        check_command(S.approved, Command.approve)
    assert (
        refused.value.message == "cannot approve while the job is approved (needs storyboard_ready)"
    )


# --------------------------------------------------------------------------- stages


def test_running_statuses_and_the_status_each_stage_starts_in() -> None:
    assert dict(RUNNING) == {
        S.queued: Stage.storyboard,
        S.storyboarding: Stage.storyboard,
        S.refining: Stage.refine,
        S.rendering: Stage.render,
    }
    for stage, status in STARTED.items():
        # A started stage is running, and the start is a move the table allows from it.
        assert running_stage(status) == stage
        for running, its_stage in RUNNING.items():
            if its_stage == stage:
                assert allows(running, status)
    for status in (S.storyboard_ready, S.approved, S.completed, S.failed, S.canceled, S.paused):
        assert running_stage(status) is None
    assert runs(S.completed, Stage.export) and not runs(S.rendering, Stage.export)
    assert runs(S.refining, Stage.storyboard, Stage.refine)
    assert not runs(S.rendering, Stage.storyboard, Stage.refine)
    assert runs(S.rendering, Stage.render) and not runs(S.completed, Stage.render)


@pytest.mark.parametrize("stage", [Stage.storyboard, Stage.refine, Stage.render])
def test_job_stages_are_stored_as_their_names(stage: Stage) -> None:
    stored = str(stage)
    assert stored == stage.value and f"{stage}" == stage.value
    assert Stage(stored) is stage and kind_of(stored) is stage
    assert not is_export(stored)
    with pytest.raises(ValueError, match="not an export stage"):
        export_id_of(stored)


def test_export_stages_round_trip() -> None:
    stored = export_stage("a1b2c3d4e5f6")
    assert stored == "export:a1b2c3d4e5f6"
    assert is_export(stored) and export_id_of(stored) == "a1b2c3d4e5f6"
    assert kind_of(stored) is Stage.export
    # `export` alone is the kind of every export, never a stored stage.
    with pytest.raises(ValueError, match="export:<export_id>"):
        kind_of("export")
    with pytest.raises(ValueError):
        kind_of("upload")


def test_stage_labels() -> None:
    assert stage_label(Stage.storyboard) == "storyboard"
    assert stage_label("refine") == "scene refinement"
    assert stage_label(Stage.render) == "render"
    assert stage_label(export_stage("x")) == "export"
    assert stage_label("something-else") == "something-else"


# --------------------------------------------------------------------------- retry


@pytest.mark.parametrize(
    ("status", "failed_stage", "storyboard", "expected"),
    [
        (S.failed, "storyboard", False, True),
        (S.failed, "storyboard", True, True),
        (S.failed, "render", True, True),
        (S.failed, "render", False, False),  # a render needs the storyboard it had
        (S.failed, None, True, False),  # failed before stages were recorded
        (S.failed, "refine", True, False),
        (S.canceled, "render", True, False),
        (S.completed, None, True, False),
        (S.rendering, "render", True, False),
    ],
)
def test_retry_eligibility(
    status: JobStatus, failed_stage: str | None, storyboard: bool, expected: bool
) -> None:
    board = a_storyboard() if storyboard else None
    assert can_retry(status, failed_stage, board) is expected


def test_a_retry_names_the_stage_or_says_why_not() -> None:
    assert retry_stage(a_job(S.failed, "render")) is Stage.render
    assert retry_stage(a_job(S.failed, "storyboard", storyboard=False)) is Stage.storyboard
    # The start of a retry is a move the table allows.
    assert allows(S.failed, STARTED[Stage.render]) and allows(S.failed, STARTED[Stage.storyboard])
    with pytest.raises(Refused) as refused:
        retry_stage(a_job(S.completed))
    assert refused.value.message == "only a failed job can be retried; this one is completed"
    assert refused.value.details == {"status": S.completed}
    with pytest.raises(Refused) as refused:
        retry_stage(a_job(S.failed, "render", storyboard=False))
    assert refused.value.message == (
        "this job cannot be retried: it did not fail in a stage that can start again"
    )
    assert refused.value.details == {"status": S.failed, "failed_stage": "render"}
    with pytest.raises(Refused):
        retry_stage(a_job(S.failed, None))


# --------------------------------------------------------------------------- pauses


@pytest.mark.parametrize("stage", PAUSED_STAGES)
def test_a_paused_stage_resumes_into_the_status_it_starts_in(stage: Stage) -> None:
    # The held stage starts where its command would have started it ...
    assert resumed_status(stage) is STARTED[stage]
    assert allows(S.paused, resumed_status(stage))
    # ... and the pause says which stage waits and when it goes on by itself.
    progress = paused_progress(stage)
    assert progress.stage == "paused" and progress.percent == 0
    assert progress.message == pause_message(stage)
    assert progress.message.startswith("paused: the daily budget is exhausted; the ")
    assert progress.message.endswith(RESUMES)
    assert stage_label(stage) in progress.message


def test_only_paid_job_stages_are_paused() -> None:
    assert (Stage.storyboard, Stage.refine, Stage.render) == PAUSED_STAGES
    with pytest.raises(ValueError, match="never paused"):
        resumed_status(Stage.export)
    # Each stage is held from the statuses its command (or a retry) starts it in.
    for source in (S.queued, S.storyboard_ready, S.approved, S.failed):
        assert allows(source, S.paused)
    assert paused_progress(Stage.render).model_dump_json() == (
        '{"stage":"paused","percent":0.0,"message":"paused: the daily budget is exhausted;'
        " the render starts at UTC midnight, or as soon as an admin raises today's limit\"}"
    )


def test_a_paused_job_takes_only_a_cancel() -> None:
    assert check_command(S.paused, Command.cancel) is S.canceled
    # A conflict, not a 403 "approve it first": the job's next stage is already decided.
    with pytest.raises(Refused) as refused:
        check_command(S.paused, Command.render)
    assert not isinstance(refused.value, NotApproved)
    assert refused.value.message == "cannot render while the job is paused (needs approved)"


# --------------------------------------------------------------------------- webhooks, polls


def test_webhooks_announce_review_pauses_and_the_final_statuses() -> None:
    assert {s: NOTIFIED[s] for s in NOTIFIED} == {
        S.storyboard_ready: "storyboard_ready",
        S.completed: "completed",
        S.failed: "failed",
        S.canceled: "canceled",
        S.paused: "paused",
    }
    # A resume is announced as such, whatever status the job then runs in.
    assert RESUMED == "resumed"


@pytest.mark.parametrize("status", list(JobStatus))
def test_the_poll_interval_stays_within_bounds(status: JobStatus) -> None:
    highest = PAUSED_POLL_MS if status == S.paused else MAX_POLL_MS
    for percent in (0.0, 10.0, 49.9, 50.0, 99.0, 100.0):
        assert MIN_POLL_MS <= poll_after_ms(status, percent) <= highest


def test_the_poll_interval_follows_the_work() -> None:
    assert (MIN_POLL_MS, MAX_POLL_MS) == (2000, 10000)
    assert poll_after_ms(S.rendering, 10) == 3000
    assert poll_after_ms(S.rendering, 50) == MIN_POLL_MS  # near the end: poll more often
    assert poll_after_ms(S.storyboarding) == 3000 and poll_after_ms(S.refining, 80) == 2000
    assert poll_after_ms(S.queued) == 3000
    for waiting in (S.storyboard_ready, S.approved, S.completed, S.failed, S.canceled):
        assert poll_after_ms(waiting, 100) == MAX_POLL_MS
    # Waiting for a new day or an admin: the slowest of all.
    assert poll_after_ms(S.paused) == PAUSED_POLL_MS == 15000


# --------------------------------------------------------------------------- progress


def test_each_move_writes_the_progress_clients_know() -> None:
    # Stored JSON, byte for byte: the console and the CLI show these messages.
    def as_stored(progress: Progress) -> str:
        return progress.model_dump_json()

    assert as_stored(queued_progress()) == (
        '{"stage":"queued","percent":0.0,"message":"waiting for a storyboard worker"}'
    )
    assert as_stored(storyboard_made_progress(4, None)) == (
        '{"stage":"storyboard_ready","percent":100.0,"message":"4 scenes ready for review"}'
    )
    assert storyboard_made_progress(4, 2).message == "scene 2 refined"
    assert storyboard_ready_progress("why").model_dump() == {
        "stage": "storyboard_ready",
        "percent": 100.0,
        "message": "why",
    }
    assert as_stored(approved_progress()) == (
        '{"stage":"approved","percent":100.0,"message":"ready to render"}'
    )
    assert as_stored(refining_progress(3)) == (
        '{"stage":"refining","percent":0.0,"message":"refining scene 3"}'
    )
    assert as_stored(rendering_progress()) == (
        '{"stage":"rendering","percent":0.0,"message":"waiting for a renderer"}'
    )
    assert as_stored(exporting_progress("exporting 1:1")) == (
        '{"stage":"exporting","percent":0.0,"message":"exporting 1:1"}'
    )
    assert rendered_progress(1).message == "1 video ready"
    assert as_stored(rendered_progress(3)) == (
        '{"stage":"completed","percent":100.0,"message":"3 videos ready"}'
    )
    assert as_stored(exported_progress()) == (
        '{"stage":"completed","percent":100.0,"message":"export ready"}'
    )
    # A restart runs in the stage's status from 0; a failure keeps where it stopped.
    assert restarted_progress(Stage.storyboard, "again").model_dump() == {
        "stage": "queued",
        "percent": 0.0,
        "message": "again",
    }
    assert restarted_progress(Stage.render, "again").stage == "rendering"
    stopped = Progress(stage="rendering", percent=40, message="clip 2 of 4")
    assert with_message(stopped, "canceled") == Progress(
        stage="rendering", percent=40, message="canceled"
    )
    assert stopped.message == "clip 2 of 4"  # the original is left as it was
