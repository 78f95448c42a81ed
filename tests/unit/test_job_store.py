"""The job store and the commands, driven directly against a real SQLite file: a job's
whole life (brief, storyboard, edit, refinement, approval, render, export), a cancel from
every status that allows one, refusals that leave the row as it was, stale and repeated
worker events ignored, and the attempt claim that only one of two replicas wins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from services.gateway.http.errors import Conflict, Forbidden
from services.gateway.jobs import store
from services.gateway.jobs.commands import JobStore
from services.gateway.jobs.lifecycle import Stage, TransitionRefused
from services.gateway.jobs.projection import Projection
from services.gateway.jobs.stage_requests import load_request
from services.gateway.jobs.store import JobRecord
from shared.checks.findings import Finding, PreflightReport
from shared.checks.preflight import preflight
from shared.db import Database
from shared.events import (
    Payload,
    RenderCompleted,
    RenderProgressed,
    StoryboardCompleted,
    StoryboardProgressed,
)
from shared.models import (
    ExportRequest,
    GenerationRequest,
    JobStatus,
    Platform,
    Progress,
    SceneEdit,
    StoryboardEdit,
    VariationPlan,
    VideoOutput,
)
from tests.support.gateway_db import a_storyboard, migrated_app_db

CLIENT = "client-a"
REQUEST = GenerationRequest(
    campaign_id="spring",
    prompt="A linen shirt for hot days",
    platform=Platform.tiktok,
    duration_s=10,
    assets=["asset-1"],
)


@pytest_asyncio.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_app_db(tmp_path) as database:
        yield database


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db)


@pytest.fixture
def projection(db: Database) -> Projection:
    return Projection(db)


def a_video(kind: str = "render", name: str = "v1") -> VideoOutput:
    return VideoOutput.model_validate(
        {
            "kind": kind,
            "aspect": "1:1" if kind == "export" else None,
            "key": f"videos/job/{name}.mp4",
            "url": "",
            "duration_s": 10,
            "width": 1080,
            "height": 1080,
            "size_bytes": 1000,
        }
    )


def event(record: JobRecord, payload: Payload, attempt: int | None = None) -> Any:
    return payload.envelope(
        job_id=record.job.id, client_id=CLIENT, attempt=attempt or record.attempt
    )


async def outbox(db: Database) -> list[str]:
    rows = await db.fetchall("SELECT subject FROM outbox ORDER BY rowid")
    return [row["subject"] for row in rows]


async def current(jobs: JobStore, job_id: str) -> JobRecord:
    record = await jobs.get(job_id)
    assert record is not None
    return record


async def job_in(status: JobStatus, jobs: JobStore, projection: Projection, job_id: str) -> None:
    """Drive a new job `job_id` to `status` the way clients and workers do."""
    record = await jobs.create(job_id, CLIENT, REQUEST)
    if status == JobStatus.queued:
        return
    if status == JobStatus.storyboarding:
        await projection.storyboard_progressed(
            event(record, StoryboardProgressed(progress=Progress()))
        )
        return
    await projection.storyboard_completed(
        event(record, StoryboardCompleted(storyboard=a_storyboard()))
    )
    if status == JobStatus.refining:
        await jobs.request_refine(job_id, 1, "warmer")
        return
    if status == JobStatus.storyboard_ready:
        return
    await jobs.approve(job_id, CLIENT)
    if status == JobStatus.approved:
        return
    await jobs.request_render(job_id)
    if status == JobStatus.rendering:
        return
    raise AssertionError(f"no way to {status} here")


async def test_a_created_job_is_the_job_its_row_reads_back(jobs: JobStore) -> None:
    # create answers with the row the INSERT returned (defaults included), not a second read.
    created = await jobs.create("job0", CLIENT, REQUEST)
    assert created == await current(jobs, "job0")
    assert created.job.status == JobStatus.queued and created.job.created_at
    assert created.request == REQUEST and created.attempt == 1


async def test_new_jobs_arriving_together_are_written_together(
    jobs: JobStore, db: Database
) -> None:
    # A burst of briefs: the ones that arrive while a commit runs share the next one,
    # and each job still has its row and its two outbox events.
    created = await asyncio.gather(*(jobs.create(f"burst{n}", CLIENT, REQUEST) for n in range(24)))
    assert [record.job.id for record in created] == [f"burst{n}" for n in range(24)]
    assert jobs.creations.groups < 24
    for record in created:
        assert record == await current(jobs, record.job.id)
    subjects = await outbox(db)
    assert subjects.count("jobs.created") == 24
    assert subjects.count("jobs.storyboard.requested") == 24


async def test_a_job_that_cannot_be_written_fails_alone(jobs: JobStore, db: Database) -> None:
    # One of a group repeats an id already taken: it fails, the rest of its group commits.
    await jobs.create("taken", CLIENT, REQUEST)
    results = await asyncio.gather(
        *(jobs.create(job_id, CLIENT, REQUEST) for job_id in ("fresh1", "taken", "fresh2")),
        return_exceptions=True,
    )
    assert isinstance(results[1], Exception)
    assert [r.job.id for r in (results[0], results[2]) if isinstance(r, JobRecord)] == [
        "fresh1",
        "fresh2",
    ]
    rows = await db.fetchall("SELECT id FROM generated_videos ORDER BY id")
    assert [row["id"] for row in rows] == ["fresh1", "fresh2", "taken"]
    assert (await outbox(db)).count("jobs.created") == 3


async def test_a_job_from_brief_to_export(
    db: Database, jobs: JobStore, projection: Projection
) -> None:
    # A brief creates a queued job and asks for a storyboard, in one transaction.
    record = await jobs.create("job1", CLIENT, REQUEST)
    assert record.job.status == JobStatus.queued and record.attempt == 1
    assert record.job.progress.message == "waiting for a storyboard worker"
    assert await outbox(db) == ["jobs.created", "jobs.storyboard.requested"]
    async with db.transaction() as tx:
        assert await load_request(tx, "job1", Stage.storyboard) is not None

    # The worker's progress moves it to storyboarding; its storyboard to review.
    moving = Progress(stage="storyboarding", percent=40, message="writing the script")
    progressed = await projection.storyboard_progressed(
        event(record, StoryboardProgressed(progress=moving))
    )
    assert progressed is not None and progressed.job.status == JobStatus.storyboarding
    done = await projection.storyboard_completed(
        event(record, StoryboardCompleted(storyboard=a_storyboard()))
    )
    assert done is not None and done.job.status == JobStatus.storyboard_ready
    assert done.job.progress.message == "2 scenes ready for review"
    assert done.job.poll_after_ms == 10000  # waiting on the user

    # The client edits a caption: still in review, the edit announced.
    edited = await jobs.edit_storyboard(
        "job1", StoryboardEdit(scenes=[SceneEdit(index=1, caption="Stay cool")])
    )
    assert edited.job.status == JobStatus.storyboard_ready
    assert edited.job.storyboard is not None
    assert edited.job.storyboard.scenes[0].caption == "Stay cool"

    # A refinement of scene 2 runs, then comes back to review.
    refining = await jobs.request_refine("job1", 2, "more sun")
    assert refining.job.status == JobStatus.refining
    assert refining.job.progress.message == "refining scene 2"
    refined = await projection.storyboard_completed(
        event(refining, StoryboardCompleted(storyboard=a_storyboard(), refined_scene=2))
    )
    assert refined is not None and refined.job.status == JobStatus.storyboard_ready
    assert refined.job.progress.message == "scene 2 refined"

    # Approval, then the render.
    approved = await jobs.approve("job1", CLIENT)
    assert approved.job.status == JobStatus.approved and approved.job.approved
    assert approved.job.approved_at is not None
    assert approved.job.progress.message == "ready to render"
    rendering = await jobs.request_render("job1")
    assert rendering.job.status == JobStatus.rendering
    assert rendering.job.progress.message == "waiting for a renderer"
    halfway = Progress(stage="rendering", percent=60, message="clip 2 of 3")
    await projection.render_progressed(event(rendering, RenderProgressed(progress=halfway)))
    assert (await current(jobs, "job1")).job.progress.percent == 60
    completed = await projection.render_completed(
        event(rendering, RenderCompleted(outputs=[a_video()]))
    )
    assert completed is not None and completed.job.status == JobStatus.completed
    assert completed.job.progress.message == "1 video ready"
    assert completed.job.video_url == "/api/v2/jobs/job1/video?variation=1"

    # An export keeps the job completed and adds an output when it is done.
    exporting = await jobs.request_export("job1", ExportRequest(aspect="1:1"))
    assert exporting.job.status == JobStatus.completed
    assert exporting.job.progress.message == "exporting 1:1"
    requested = await db.fetchone("SELECT stage FROM stage_requests WHERE stage LIKE 'export:%'")
    assert requested is not None
    export_id = requested["stage"].removeprefix("export:")
    exported = await projection.render_completed(
        event(exporting, RenderCompleted(outputs=[a_video("export", "e1")], export_id=export_id))
    )
    assert exported is not None and exported.job.status == JobStatus.completed
    assert [out.kind for out in exported.job.outputs] == ["render", "export"]
    assert exported.job.progress.message == "export ready"
    assert await outbox(db) == [
        "jobs.created",
        "jobs.storyboard.requested",
        "jobs.storyboard.edited",
        "jobs.scene.refine_requested",
        "jobs.approved",
        "jobs.render.requested",
        "jobs.export.requested",
    ]


async def test_a_storyboard_keeps_the_preflight_its_worker_made(
    jobs: JobStore, projection: Projection
) -> None:
    # The worker's report is stored as it came (here one the gateway would not have
    # found on this storyboard: it did not check again).
    record = await jobs.create("job1", CLIENT, REQUEST)
    finding = Finding(check="claims.medical", severity="error", scene=1, message="a cure")
    made = PreflightReport.of([finding], checked_at=datetime(2026, 12, 7, tzinfo=UTC))
    done = await projection.storyboard_completed(
        event(record, StoryboardCompleted(storyboard=a_storyboard(), preflight=made))
    )
    assert done is not None and done.job.preflight == made
    assert done.job.checks_status == "fail"
    assert (await current(jobs, "job1")).job.preflight == made


async def test_a_storyboard_without_a_preflight_is_preflighted_by_the_gateway(
    jobs: JobStore, projection: Projection
) -> None:
    # From a worker that sends no report (an older one, mid-deploy).
    record = await jobs.create("job1", CLIENT, REQUEST)
    storyboard = a_storyboard()
    done = await projection.storyboard_completed(
        event(record, StoryboardCompleted(storyboard=storyboard))
    )
    assert done is not None and done.job.preflight is not None
    assert done.job.preflight.checked_at is not None
    expected = preflight(REQUEST, storyboard)
    assert done.job.preflight.model_copy(update={"checked_at": None}) == expected


@pytest.mark.parametrize(
    "status",
    [
        JobStatus.queued,
        JobStatus.storyboarding,
        JobStatus.storyboard_ready,
        JobStatus.refining,
        JobStatus.approved,
        JobStatus.rendering,
    ],
)
async def test_a_job_can_be_canceled_until_it_is_final(
    status: JobStatus, db: Database, jobs: JobStore, projection: Projection
) -> None:
    await job_in(status, jobs, projection, "job1")
    before = await current(jobs, "job1")
    assert before.job.status == status

    # The cancel keeps where the job stood and says it was canceled.
    canceled = await jobs.cancel("job1")
    assert canceled.job.status == JobStatus.canceled
    assert canceled.job.progress.message == "canceled"
    assert canceled.job.progress.stage == before.job.progress.stage
    assert (await outbox(db))[-1] == "jobs.canceled"

    # A canceled job cannot be canceled again.
    with pytest.raises(Conflict) as refused:
        await jobs.cancel("job1")
    assert refused.value.message == "job is already canceled; nothing to cancel"


async def test_refused_commands_answer_as_before_and_change_nothing(
    db: Database, jobs: JobStore, projection: Projection
) -> None:
    await jobs.create("job1", CLIENT, REQUEST)
    sent = await outbox(db)

    # Approving a queued job: a conflict naming the status it needs.
    with pytest.raises(Conflict) as conflict:
        await jobs.approve("job1", CLIENT)
    assert conflict.value.status == 409
    assert conflict.value.message == (
        "cannot approve while the job is queued (needs storyboard_ready)"
    )
    assert conflict.value.details == {"status": JobStatus.queued}

    # Rendering before approval is forbidden, with the approval flag in the details.
    with pytest.raises(Forbidden) as forbidden:
        await jobs.request_render("job1")
    assert forbidden.value.status == 403
    assert forbidden.value.message == "the storyboard must be approved before it is rendered"
    assert forbidden.value.details == {"status": JobStatus.queued, "approved": False}

    # Editing, refining and exporting a queued job: conflicts.
    with pytest.raises(Conflict, match=r"needs storyboard_ready or approved"):
        await jobs.edit_storyboard("job1", StoryboardEdit())
    with pytest.raises(Conflict, match=r"^cannot refine a scene while the job is queued"):
        await jobs.request_refine("job1", 1, "x")
    with pytest.raises(Conflict) as conflict:
        await jobs.request_export("job1", ExportRequest(aspect="1:1"))
    assert conflict.value.message == "cannot export while the job is queued (needs completed)"

    # Nothing was written or sent.
    assert (await current(jobs, "job1")).job.status == JobStatus.queued
    assert await outbox(db) == sent

    # A job past rendering: the render is a conflict, not a 403.
    await job_in(JobStatus.rendering, jobs, projection, "job2")
    await jobs.cancel("job2")
    with pytest.raises(Conflict) as conflict:
        await jobs.request_render("job2")
    assert conflict.value.message == "cannot render while the job is canceled (needs approved)"


async def test_the_store_writes_a_status_only_as_the_lifecycle_allows(
    db: Database, jobs: JobStore
) -> None:
    await jobs.create("job1", CLIENT, REQUEST)
    await jobs.cancel("job1")
    async with db.transaction() as tx:
        record = await store.load(tx, "job1")
        with pytest.raises(TransitionRefused):
            await store.move(tx, record, JobStatus.queued)
        with pytest.raises(TypeError):
            await store.write(tx, "job1", status=JobStatus.queued)
    assert (await current(jobs, "job1")).job.status == JobStatus.canceled


async def test_stale_and_repeated_worker_events_are_ignored(
    db: Database, jobs: JobStore, projection: Projection
) -> None:
    first = await jobs.create("job1", CLIENT, REQUEST)
    # The reaper moves the job to attempt 2 ...
    async with db.transaction() as tx:
        assert await store.claim_attempt(tx, first) == 2

    # ... so attempt 1's storyboard changes nothing.
    late = event(first, StoryboardCompleted(storyboard=a_storyboard()), attempt=1)
    assert await projection.storyboard_completed(late) is None
    assert (await current(jobs, "job1")).job.status == JobStatus.queued

    # Attempt 2's storyboard applies once; its redelivery is ignored.
    fresh = event(first, StoryboardCompleted(storyboard=a_storyboard()), attempt=2)
    applied = await projection.storyboard_completed(fresh)
    assert applied is not None and applied.job.status == JobStatus.storyboard_ready
    await jobs.approve("job1", CLIENT)
    assert await projection.storyboard_completed(fresh) is None
    assert (await current(jobs, "job1")).job.status == JobStatus.approved


async def test_of_two_replicas_claiming_an_attempt_exactly_one_wins(
    db: Database, jobs: JobStore, tmp_path: Path
) -> None:
    await jobs.create("job1", CLIENT, REQUEST)
    # A second gateway on the same file; both see the job at attempt 1.
    other = await Database.open(tmp_path / "app.db")
    try:
        seen = await jobs.get("job1")
        assert seen is not None

        async def claim(database: Database) -> int | None:
            async with database.transaction() as tx:
                return await store.claim_attempt(tx, seen)

        results = await asyncio.gather(claim(db), claim(other))
    finally:
        await other.close()
    assert sorted(results, key=str) == [2, None]
    assert (await current(jobs, "job1")).attempt == 2


async def test_the_store_answers_the_gateways_questions(
    db: Database, jobs: JobStore, projection: Projection
) -> None:
    # Three jobs of client-a (one finished), one of client-b.
    await job_in(JobStatus.rendering, jobs, projection, "job1")
    await job_in(JobStatus.queued, jobs, projection, "job2")
    await job_in(JobStatus.storyboard_ready, jobs, projection, "job3")
    await jobs.cancel("job3")
    await jobs.create("job4", "client-b", REQUEST)

    assert await store.owner_of(db, "job4") == "client-b"
    assert await store.owner_of(db, "nope") is None
    # Running: queued and rendering count, not the job the request is about.
    assert await store.count_running(db, CLIENT, None) == 2
    assert await store.count_running(db, CLIENT, "job1") == 1
    # Unfinished jobs naming an asset.
    assert await store.unfinished_using(db, CLIENT, "asset-1") == ["job1", "job2"]
    assert await store.unfinished_using(db, CLIENT, "asset-2") == []

    # Pages of two, newest first, by client.
    page, more = await jobs.list(CLIENT, None, None, 2, None)
    assert len(page) == 2 and more is not None
    rest, end = await jobs.list(CLIENT, None, None, 2, more)
    assert set(page + rest) == {"job1", "job2", "job3"} and end is None
    only_canceled, _ = await jobs.list(CLIENT, JobStatus.canceled, None, 10, None)
    assert only_canceled == ["job3"]
    # The jobs of a page, by id, as a single read gives them; an id with no job left out.
    found = await jobs.jobs([*page, "nope"])
    assert set(found) == set(page)
    for job_id, owned in found.items():
        record = await jobs.get(job_id)
        assert record is not None and (owned.job, owned.client_id) == (record.job, CLIENT)


async def test_an_edit_keeps_the_storyboards_style_and_variation_plans(
    jobs: JobStore, projection: Projection
) -> None:
    # What each variation tests and the look chosen survive the client's edit.
    record = await jobs.create("job1", CLIENT, REQUEST)
    plan = VariationPlan(
        variation=2,
        style="clean",
        hook_angle="question",
        hook="Dull skin?",
        hook_script="Dull skin?",
        call_to_action="Try it",
        hypothesis="A question hooks better than a claim.",
    )
    planned = a_storyboard().model_copy(
        update={"style": "bold", "variations": [plan], "claims_left_out": ["Vegan"]}
    )
    await projection.storyboard_completed(event(record, StoryboardCompleted(storyboard=planned)))
    edited = await jobs.edit_storyboard(
        "job1", StoryboardEdit(scenes=[SceneEdit(index=1, caption="Stay cool")], order=[2, 1])
    )
    storyboard = edited.job.storyboard
    assert storyboard is not None
    assert [scene.caption for scene in storyboard.scenes] == ["caption 2", "Stay cool"]
    assert storyboard.style == "bold" and storyboard.variations == [plan]
    assert storyboard.claims_left_out == ["Vegan"]
