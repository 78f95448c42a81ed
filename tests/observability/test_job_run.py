"""One real run, observed: three jobs through the whole system (gateway, storyboard,
renderer, assets and billing on a real nats-server), two completed with recorded model
costs and one failed in rendering. Its JSON log lines answer the seed's jq queries, its
spans form one trace per job across the services, and its metrics count what happened."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from services.billing.__main__ import serve as serve_billing
from shared.billing import CostRecorded
from shared.metrics import exposition
from tests.observability.conftest import json_log_file, recording_spans
from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system
from tests.support.waiting import eventually

# The seed's queries, verbatim.
ERRORS_BY_REASON = """jq -r 'select(.level=="ERROR") | .reason' | sort | uniq -c"""
P95_DURATION = (
    """jq -r 'select(.event=="job_completed") | .duration_ms' | sort -n | awk 'NR==int(NR*0.95)'"""
)
COST_SUM = (
    """jq -r 'select(.event=="job_completed") | .actual_cost' | awk '{sum+=$1} END {print sum}'"""
)
# What the second one means (README, Observability): its awk compares each line number
# with 95% of itself, which no line number equals, so it never prints.
P95_DURATION_FIXED = (
    """jq -r 'select(.event=="job_completed") | .duration_ms' | sort -n"""
    """ | awk '{v[NR]=$1} END {i=int(NR*0.95); if (i<1) i=1; print v[i]}'"""
)
COSTS = {  # job -> [(model, usd)], recorded while its storyboard is under review
    "a": [("black-forest-labs/flux-schnell", 0.012), ("meta/meta-llama-3-8b-instruct", 0.0025)],
    "b": [("kwaivgi/kling-v1.6-standard", 0.28)],
}
SAMPLES = {
    "created": ("reelsmith_jobs_created_total", {"platform": "tiktok", "backend": "local"}),
    "completed": ("reelsmith_jobs_completed_total", {"platform": "tiktok", "backend": "local"}),
    "failed": (
        "reelsmith_jobs_failed_total",
        {"platform": "tiktok", "backend": "local", "stage": "render"},
    ),
    "videos": ("reelsmith_videos_completed_total", {"platform": "tiktok", "backend": "local"}),
    "videos_cost": (
        "reelsmith_completed_jobs_cost_usd_total",
        {"platform": "tiktok", "backend": "local"},
    ),
    "ready": ("reelsmith_storyboards_ready_total", {"platform": "tiktok"}),
    "approved": ("reelsmith_storyboards_approved_total", {"platform": "tiktok"}),
    "storyboard_stage": (
        "reelsmith_job_duration_seconds_count",
        {"stage": "storyboard", "platform": "tiktok", "backend": "local"},
    ),
    "render_stage": (
        "reelsmith_job_duration_seconds_count",
        {"stage": "render", "platform": "tiktok", "backend": "local"},
    ),
    "total_stage": (
        "reelsmith_job_duration_seconds_count",
        {"stage": "total", "platform": "tiktok", "backend": "local"},
    ),
    "render_speed": ("reelsmith_render_speed_ratio_count", {}),
    "encode_clips": ("reelsmith_render_encode_seconds_count", {"phase": "clips"}),
    "encode_compose": ("reelsmith_render_encode_seconds_count", {"phase": "compose"}),
    "poll_hits": ("reelsmith_poll_cache_requests_total", {"result": "hit"}),
    "cost_flux": ("reelsmith_cost_usd_total", {"model": "black-forest-labs/flux-schnell"}),
    "cost_kling": ("reelsmith_cost_usd_total", {"model": "kwaivgi/kling-v1.6-standard"}),
}


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def snapshot() -> dict[str, float]:
    return {key: sample(name, labels) for key, (name, labels) in SAMPLES.items()}


@dataclass
class Run:
    jobs: dict[str, dict[str, Any]]  # final API view of jobs a, b (completed), c (failed)
    log_path: Path
    lines: list[dict[str, Any]]
    spans: list[ReadableSpan]
    before: dict[str, float]
    after: dict[str, float]
    metrics_text: str
    billing_total_usd: float


async def record_cost(system: System, job_id: str, model: str, usd: float, n: int) -> None:
    """What a paid model call reports (the Replicate backend sends these per prediction)."""
    cost = CostRecorded(
        job_id=job_id,
        client_id="client-a",
        stage="storyboard",
        scene=n,
        provider="replicate",
        model=model,
        prediction_id=f"pred-{job_id[:8]}-{n}",
        unit="image",
        units=1,
        unit_price_usd=usd,
        amount_usd=usd,
        occurred_at=datetime.now(UTC),
    )
    await system.bus.publish(
        cost.envelope(job_id=job_id, client_id="client-a", event_id=cost.event_id)
    )


async def through_render(system: System, name: str, break_frames: bool = False) -> dict[str, Any]:
    """A brief to its end: storyboard, costs recorded, approval, render."""
    job = await system.create_job(duration_s=10)
    job_id = job["id"]
    await system.wait_status(job_id, "storyboard_ready", timeout_s=60)
    costs = COSTS.get(name, [])
    for n, (model, usd) in enumerate(costs, 1):
        await record_cost(system, job_id, model, usd, n)
    total = round(sum(usd for _, usd in costs), 6)
    if costs:
        await eventually(
            lambda: system.job(job_id),
            lambda j: abs((j["actual_cost"] or 0) - total) < 1e-9,
            timeout_s=30,
        )
    if break_frames:
        # The renderer cannot make the job's folder (a file is in its place): a real
        # render failure.
        blocked = system.settings.video_storage_path / "videos" / job_id
        blocked.parent.mkdir(parents=True, exist_ok=True)
        blocked.write_bytes(b"not a folder")
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job_id}/approve")
    assert status == 200, body
    status, body, _ = await system.call("POST", f"/api/v2/jobs/{job_id}/render")
    assert status == 202, body
    final = "failed" if break_frames else "completed"
    return await system.wait_status(job_id, final, timeout_s=90)


@pytest_asyncio.fixture(scope="module")
async def run(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Run]:
    """Three jobs through the real system, with every log line and span captured."""
    root = tmp_path_factory.mktemp("observed")
    log_path = root / "run.jsonl"
    before = snapshot()
    with json_log_file(log_path), recording_spans() as recorder:
        async with running_system(nats_server.url, root) as system:
            system._start(serve_billing, "billing", {"database_path": root / "billing.db"})
            # Two jobs complete, one fails in the renderer.
            a, b, c = await asyncio.gather(
                through_render(system, "a"),
                through_render(system, "b"),
                through_render(system, "c", break_frames=True),
            )
            # Billing has seen every job end before the snapshot is taken.
            await system.drained("billing-jobs")
            status, summary, _ = await system.call(
                "GET", "/api/v2/billing/summary", client_id="ops", role="admin"
            )
            assert status == 200, summary
            metrics_text = exposition()[0].decode()
            after = snapshot()
            spans = list(recorder.get_finished_spans())
    lines = [orjson.loads(line) for line in log_path.read_text().splitlines()]
    yield Run(
        jobs={"a": a, "b": b, "c": c},
        log_path=log_path,
        lines=lines,
        spans=spans,
        before=before,
        after=after,
        metrics_text=metrics_text,
        billing_total_usd=summary["total_usd"],
    )


def jq(query: str, log_path: Path) -> str:
    """Run a shell pipeline of the seed's on the combined log, as an operator would."""
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"cat {log_path} | {query}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def completed_lines(run: Run) -> list[dict[str, Any]]:
    return [line for line in run.lines if line["event"] == "job_completed"]


# --------------------------------------------------------------------------- logs


def test_every_line_is_json_with_the_common_fields(run: Run) -> None:
    # Each line names its time, level, service and event; job lines their job and trace.
    assert len(run.lines) > 20
    for line in run.lines:
        assert {"ts", "level", "service", "event"} <= set(line), line
        assert line["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    services = {line["service"] for line in run.lines if "job_id" in line}
    assert {"gateway", "storyboard", "renderer", "billing"} <= services


def test_each_job_ends_with_one_job_completed_line(run: Run) -> None:
    # One line per job, with the fields the seed's queries read.
    lines = {line["job_id"]: line for line in completed_lines(run)}
    assert len(completed_lines(run)) == 3 and set(lines) == {j["id"] for j in run.jobs.values()}
    for name, job in run.jobs.items():
        line = lines[job["id"]]
        assert line["service"] == "gateway" and line["status"] == job["status"]
        assert line["platform"] == "tiktok" and line["backend"] == "local"
        assert line["actual_cost"] == pytest.approx(job["actual_cost"] or 0.0)
        assert line["estimated_cost"] == pytest.approx(job["estimated_cost"] or 0.0)
        assert isinstance(line["duration_ms"], int) and line["duration_ms"] > 0
        # The job's trace is the job's id.
        assert line["trace_id"] == job["id"], name
    failed = lines[run.jobs["c"]["id"]]
    assert failed["level"] == "ERROR" and failed["reason"] == "render failed"
    assert failed["error_message"] == run.jobs["c"]["error_message"]
    assert all(lines[run.jobs[n]["id"]]["level"] == "INFO" for n in "ab")


def test_seed_query_counts_errors_by_reason(run: Run) -> None:
    # `uniq -c` of the ERROR lines' reasons: the failed job once (gateway), and the
    # renderer's own error for it once; no ERROR line without a reason.
    counted = {}
    for row in jq(ERRORS_BY_REASON, run.log_path).splitlines():
        count, reason = row.strip().split(" ", 1)
        counted[reason] = int(count)
    errors = [line for line in run.lines if line["level"] == "ERROR"]
    assert sum(counted.values()) == len(errors) and "null" not in counted
    assert counted["render failed"] == 1
    renderer = [e for e in errors if e["service"] == "renderer"]
    assert len(renderer) == 1 and renderer[0]["job_id"] == run.jobs["c"]["id"]
    assert counted[renderer[0]["reason"]] >= 1
    assert len(errors) == 2, errors


def test_seed_query_p95_duration(run: Run) -> None:
    # The seed's awk compares each line number with 95% of itself: it never prints.
    assert jq(P95_DURATION, run.log_path) == ""
    # Its intent, the 95th-percentile line of the sorted durations, matches the API's
    # own times (created_at to the final update), within the moment between the two.
    api_ms = sorted(
        (
            datetime.fromisoformat(job["updated_at"]) - datetime.fromisoformat(job["created_at"])
        ).total_seconds()
        * 1000
        for job in run.jobs.values()
    )
    expected = api_ms[max(1, int(len(api_ms) * 0.95)) - 1]
    answer = float(jq(P95_DURATION_FIXED, run.log_path))
    assert answer == pytest.approx(expected, abs=300)


def test_seed_query_sums_actual_cost_as_the_api_reports(run: Run) -> None:
    # The sum of job_completed actual_cost is what the jobs and billing report.
    answer = float(jq(COST_SUM, run.log_path))
    api_total = sum(job["actual_cost"] or 0.0 for job in run.jobs.values())
    recorded = sum(usd for costs in COSTS.values() for _, usd in costs)
    assert api_total == pytest.approx(recorded)
    assert answer == pytest.approx(api_total, abs=1e-6)
    assert run.billing_total_usd == pytest.approx(api_total, abs=1e-6)


# --------------------------------------------------------------------------- traces


def spans_of(run: Run, job_id: str) -> list[ReadableSpan]:
    trace_id = int(job_id, 16)
    return [s for s in run.spans if s.context is not None and s.context.trace_id == trace_id]


def one(spans: list[ReadableSpan], name: str, **attributes: object) -> ReadableSpan:
    found = [
        s
        for s in spans
        if s.name == name and all((s.attributes or {}).get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, (name, attributes, [s.name for s in spans])
    return found[0]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_one_job_is_one_trace_across_the_services(run: Run) -> None:
    job_id = run.jobs["a"]["id"]
    spans = spans_of(run, job_id)
    by_id = {s.context.span_id: s for s in spans if s.context is not None}

    # One root: the gateway's jobs.created, linked to the POST /jobs request's own span.
    roots = [s for s in spans if s.parent is None]
    assert [r.name for r in roots] == ["create jobs.created"]
    root = roots[0]
    post = next(
        s
        for s in run.spans
        if s.name == "POST /api/v2/jobs" and root.links and s.context == root.links[0].context
    )
    assert post.kind == SpanKind.SERVER
    assert (post.attributes or {})["http.response.status_code"] == 202

    # Every other span hangs off a span of the same trace: no broken parent links.
    for span in spans:
        if span is not root:
            assert parent_id(span) in by_id, span.name

    # The storyboard request: gateway (create) -> storyboard (process) -> its publish ->
    # gateway (process, the projection).
    requested = one(spans, "create jobs.storyboard.requested")
    assert parent_id(requested) == root.context.span_id
    drawing = one(spans, "process jobs.storyboard.requested")
    assert parent_id(drawing) == requested.context.span_id
    assert (drawing.attributes or {})["messaging.consumer.group.name"] == "storyboard"
    done = one(spans, "publish jobs.storyboard.completed")
    assert parent_id(done) == drawing.context.span_id
    projected = one(spans, "process jobs.storyboard.completed", **{"reelsmith.service": "gateway"})
    assert parent_id(projected) == done.context.span_id

    # The render request, asked for by a later HTTP request, joins the same trace.
    render = one(spans, "create jobs.render.requested")
    assert parent_id(render) == root.context.span_id
    http_render = next(s for s in run.spans if s.context == render.links[0].context)
    assert http_render.name == "POST /api/v2/jobs/{job_id}/render"
    rendering = one(spans, "process jobs.render.requested")
    assert parent_id(rendering) == render.context.span_id
    assert (rendering.attributes or {})["reelsmith.service"] == "renderer"
    # Each render phase is a child of the renderer's work.
    for phase in ("render.clips", "render.compose", "render.poster"):
        assert parent_id(one(spans, phase)) == rendering.context.span_id
    finished = one(spans, "publish jobs.render.completed")
    assert parent_id(finished) == rendering.context.span_id

    # Billing hears the job end from the renderer, and the costs; the gateway hears the
    # cost roll-up from billing.
    closing = one(
        spans, "process jobs.render.completed", **{"messaging.consumer.group.name": "billing-jobs"}
    )
    assert parent_id(closing) == finished.context.span_id
    costs = [s for s in spans if s.name == "process billing.cost.recorded"]
    assert len(costs) == len(COSTS["a"])
    assert all((s.attributes or {})["reelsmith.service"] == "billing" for s in costs)
    roll_up = [s for s in spans if s.name == "process billing.job.cost_updated"]
    assert roll_up and all(
        by_id[parent_id(s)].name == "publish billing.job.cost_updated"  # type: ignore[index]
        for s in roll_up
    )
    services = {(s.attributes or {}).get("reelsmith.service") for s in spans}
    assert {"gateway", "storyboard", "renderer", "billing"} <= services


def test_jobs_do_not_share_traces(run: Run) -> None:
    # Each job's spans are in its own trace, and name only that job.
    for job in run.jobs.values():
        spans = spans_of(run, job["id"])
        assert one(spans, "create jobs.created")
        named = {(s.attributes or {}).get("reelsmith.job_id") for s in spans} - {None}
        assert named == {job["id"]}
    # The failed job's trace ends in the renderer's failure event.
    failed = spans_of(run, run.jobs["c"]["id"])
    assert parent_id(one(failed, "publish jobs.render.failed")) == (
        one(failed, "process jobs.render.requested").context.span_id
    )


def test_trace_ids_in_the_logs_match_the_spans(run: Run) -> None:
    # A worker's log line for a job names the trace (and span) it was written in.
    job_id = run.jobs["a"]["id"]
    span_ids = {format(s.context.span_id, "016x") for s in spans_of(run, job_id)}
    worker_lines = [
        line
        for line in run.lines
        if line.get("job_id") == job_id and line["service"] in {"storyboard", "renderer"}
    ]
    assert worker_lines
    for line in worker_lines:
        assert line["trace_id"] == job_id and line["span_id"] in span_ids


def test_polls_are_not_traced_but_other_requests_are(run: Run) -> None:
    # The poll hot path gets metrics only; commands get server spans by route template.
    names = {s.name for s in run.spans if s.kind == SpanKind.SERVER}
    assert "GET /api/v2/jobs/{job_id}" not in names
    assert {"POST /api/v2/jobs", "POST /api/v2/jobs/{job_id}/approve"} <= names


# --------------------------------------------------------------------------- metrics


def delta(run: Run, key: str) -> float:
    return run.after[key] - run.before[key]


def test_job_metrics_count_what_happened(run: Run) -> None:
    # Jobs by outcome, videos, their cost, the business counters.
    assert delta(run, "created") == 3
    assert delta(run, "completed") == 2 and delta(run, "failed") == 1
    assert delta(run, "videos") == 2
    assert delta(run, "videos_cost") == pytest.approx(sum(u for _, u in COSTS["a"] + COSTS["b"]))
    assert delta(run, "ready") == 3 and delta(run, "approved") == 3
    # Stage durations: every storyboard, the two finished renders, their totals.
    assert delta(run, "storyboard_stage") == 3
    assert delta(run, "render_stage") == 2 and delta(run, "total_stage") == 2
    # The renderer measured itself; polls were served from the cache.
    assert delta(run, "render_speed") == 2
    assert delta(run, "encode_clips") >= 2 and delta(run, "encode_compose") == 2
    assert delta(run, "poll_hits") > 10


def test_billing_metrics_show_money_by_model_and_today(run: Run) -> None:
    assert delta(run, "cost_flux") == pytest.approx(0.012)
    assert delta(run, "cost_kling") == pytest.approx(0.28)
    text = run.metrics_text
    today = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("reelsmith_cost_today_usd ")
    )
    assert today == pytest.approx(run.billing_total_usd)
    assert 'reelsmith_budget_state{state="ok"} 1.0' in text
    assert 'reelsmith_budget_limit_usd{level="hard"} 150.0' in text


def test_http_metrics_use_route_templates_never_ids(run: Run) -> None:
    # Requests are counted by template and status; no job id becomes a label value.
    text = run.metrics_text
    assert (
        'reelsmith_http_requests_total{method="GET",route="/api/v2/jobs/{job_id}",status="200"}'
        in text
    )
    assert 'route="/api/v2/jobs/{job_id}/render",status="202"' in text
    for job in run.jobs.values():
        assert job["id"] not in text
    assert "client-a" not in text
