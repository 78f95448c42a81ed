"""Metrics and spans of the shared machinery, each on a real component: the bus's consumer
gauges and failure counts, the gateway's per-route HTTP metrics and server spans, upload
metrics, and billing's budget state."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import orjson
from opentelemetry.trace import SpanKind, StatusCode
from PIL import Image
from prometheus_client import REGISTRY

from services.billing.__main__ import serve as serve_billing
from shared.bus import Bus, ConsumerSpec
from shared.events import Event, JobCanceled, StoryboardFailed, new_id
from tests.observability.conftest import SpanRecorder, json_log_file
from tests.support.nats_server import NatsServer
from tests.support.system import System, delete_streams, gateway_alone, running_system
from tests.support.waiting import eventually


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def sampled(name: str, **labels: str) -> float:
    return value(name, **labels)


async def gauges(durable: str) -> dict[str, float]:
    labels = {"stream": "JOBS", "consumer": durable}
    return {
        "pending": value("reelsmith_consumer_pending_messages", **labels),
        "ack_pending": value("reelsmith_consumer_ack_pending_messages", **labels),
        "in_flight": value("reelsmith_consumer_in_flight_messages", consumer=durable),
    }


async def test_consumer_gauges_follow_the_backlog(nats_server: NatsServer) -> None:
    await delete_streams(nats_server.url)  # nothing left over from other tests
    bus = await Bus.connect(nats_server.url, service="observer")
    bus.consumer_stats_every_s = 0.05
    await bus.ensure_streams()
    durable = f"observer-{new_id()[:8]}"
    spec = ConsumerSpec(durable=durable, stream="JOBS", subjects=(JobCanceled.subject,))
    release, stop = asyncio.Event(), asyncio.Event()
    started: list[str] = []

    async def slow(event: Event[JobCanceled]) -> None:
        started.append(event.job_id)
        await release.wait()

    try:
        # Three events wait for a consumer that works on one at a time and is stuck.
        for n in range(3):
            await bus.publish(JobCanceled().envelope(job_id=f"job-{n}", client_id="c"))
        consuming = asyncio.create_task(bus.consume(spec, {JobCanceled: slow}, stop))
        busy = {"pending": 2.0, "ack_pending": 1.0, "in_flight": 1.0}
        assert await eventually(lambda: gauges(durable), lambda g: g == busy, timeout_s=15)

        # Once it is unstuck the backlog drains and the gauges say so.
        release.set()
        idle = {"pending": 0.0, "ack_pending": 0.0, "in_flight": 0.0}
        assert await eventually(lambda: gauges(durable), lambda g: g == idle, timeout_s=15)
        assert len(started) == 3
    finally:
        stop.set()
        release.set()
        await asyncio.wait_for(consuming, timeout=15)
        await bus.close()
        await delete_streams(nats_server.url)


async def test_failed_handling_is_counted_and_marked_on_the_span(
    nats_server: NatsServer, spans: SpanRecorder
) -> None:
    await delete_streams(nats_server.url)  # nothing left over from other tests
    bus = await Bus.connect(nats_server.url, service="observer")
    await bus.ensure_streams()
    durable = f"failing-{new_id()[:8]}"
    spec = ConsumerSpec(
        durable=durable, stream="JOBS", subjects=(JobCanceled.subject,), max_deliver=1
    )
    stop = asyncio.Event()
    failed_before = value("reelsmith_events_failed_total", subject="jobs.canceled", stage="handle")
    dead_before = value(
        "reelsmith_events_failed_total", subject="jobs.canceled", stage="dead_letter"
    )

    async def broken(event: Event[JobCanceled]) -> None:
        raise RuntimeError("handler bug")

    try:
        # A handler that raises, with no retries left: counted, dead-lettered.
        await bus.publish(JobCanceled().envelope(job_id="job-x", client_id="c"))
        consuming = asyncio.create_task(bus.consume(spec, {JobCanceled: broken}, stop))
        await eventually(
            lambda: sampled(
                "reelsmith_events_failed_total", subject="jobs.canceled", stage="dead_letter"
            ),
            lambda n: n == dead_before + 1,
        )
        failed = value("reelsmith_events_failed_total", subject="jobs.canceled", stage="handle")
        assert failed == failed_before + 1
    finally:
        stop.set()
        await asyncio.wait_for(consuming, timeout=15)
        await bus.close()
        await delete_streams(nats_server.url)

    # Its process span is an error, a child of the publish span, in the job's trace.
    (process,) = [
        s
        for s in spans.get_finished_spans()
        if s.name == "process jobs.canceled"
        and (s.attributes or {}).get("messaging.consumer.group.name") == durable
    ]
    (publish,) = [
        s
        for s in spans.get_finished_spans()
        if s.name == "publish jobs.canceled"
        and (s.attributes or {}).get("reelsmith.job_id") == "job-x"
    ]
    assert process.kind == SpanKind.CONSUMER and process.status.status_code == StatusCode.ERROR
    assert process.parent is not None and process.parent.span_id == publish.context.span_id
    assert process.events and process.events[0].name == "exception"


async def test_http_requests_are_counted_by_route_and_traced(
    system: System, spans: SpanRecorder
) -> None:
    # A request for a path no route matches is counted under "unmatched".
    before = value("reelsmith_http_requests_total", route="unmatched", method="GET", status="404")
    status, _, _ = await system.call("GET", "/api/v2/no-such-thing")
    assert status == 404
    after = value("reelsmith_http_requests_total", route="unmatched", method="GET", status="404")
    assert after == before + 1

    # A client's traceparent is continued by the request's server span.
    client_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"traceparent": f"00-{client_trace}-00f067aa0ba902b7-01"}
    job = await system.create_job()
    canceled_before = value("reelsmith_jobs_canceled_total", platform="tiktok", backend="local")
    status, _, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/cancel", headers=headers)
    assert status == 200
    canceled = value("reelsmith_jobs_canceled_total", platform="tiktok", backend="local")
    assert canceled == canceled_before + 1
    (server,) = [
        s for s in spans.get_finished_spans() if s.name == "POST /api/v2/jobs/{job_id}/cancel"
    ]
    assert server.kind == SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == client_trace
    assert server.parent is not None and server.parent.span_id == 0x00F067AA0BA902B7
    attributes: Mapping[str, object] = server.attributes or {}
    assert attributes["http.route"] == "/api/v2/jobs/{job_id}/cancel"
    assert attributes["http.response.status_code"] == 200
    # ... while the cancel event itself goes into the job's own trace, linked to it.
    (created,) = [s for s in spans.get_finished_spans() if s.name == "create jobs.canceled"]
    assert format(created.context.trace_id, "032x") == job["id"]
    assert created.links[0].context.span_id == server.context.span_id

    # Polls are counted and timed, but make no span.
    hist = "reelsmith_http_request_duration_seconds_count"
    labels = {"route": "/api/v2/jobs/{job_id}", "method": "GET", "status": "200"}
    polls_before = value(hist, **labels)
    await system.job(job["id"])
    assert value(hist, **labels) == polls_before + 1
    assert not [s for s in spans.get_finished_spans() if s.name == "GET /api/v2/jobs/{job_id}"]


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "#ff3366").save(buffer, "PNG")
    return buffer.getvalue()


async def test_uploads_are_measured_and_rejections_counted(system: System) -> None:
    # An accepted image adds its bytes under its kind.
    data = png_bytes()
    count_before = value("reelsmith_upload_size_bytes_count", kind="image")
    bytes_before = value("reelsmith_upload_size_bytes_sum", kind="image")
    status, body, _ = await eventually(
        lambda: system.call("POST", "/api/v2/upload-asset", data=png_form(data)),
        lambda answer: answer[0] != 503,
    )
    assert status == 201, body
    assert value("reelsmith_upload_size_bytes_count", kind="image") == count_before + 1
    assert value("reelsmith_upload_size_bytes_sum", kind="image") == bytes_before + len(data)

    # Refused uploads count by the reason answered.
    refused_before = value("reelsmith_upload_rejections_total", reason="unsupported_media_type")
    status, body, _ = await system.call("POST", "/api/v2/upload-asset", data=b"plain bytes")
    assert status == 415, body
    after = value("reelsmith_upload_rejections_total", reason="unsupported_media_type")
    assert after == refused_before + 1


def png_form(data: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", data, filename="red.png", content_type="image/png")
    return form


async def test_budget_state_reaches_hard_exceeded(nats_server: NatsServer, tmp_path: Path) -> None:
    # Real models, a one-cent hard limit: the first job commits past it.
    async with gateway_alone(
        nats_server.url,
        tmp_path,
        generation_backend="replicate",
    ) as system:
        system._start(
            serve_billing,
            "billing",
            {
                "database_path": tmp_path / "billing.db",
                "daily_budget_soft_usd": 0.005,
                "daily_budget_hard_usd": 0.01,
            },
        )
        brief = {
            "campaign_id": "c",
            "prompt": "Introducing Glow",
            "platform": "tiktok",
            "duration_s": 30,
        }
        status, job, _ = await eventually(
            lambda: system.call("POST", "/api/v2/jobs", json=brief),
            lambda answer: answer[0] != 503,
        )
        assert status == 202, job
        # The budget's gauges show the state new work is refused in.
        assert value("reelsmith_budget_state", state="hard_exceeded") == 1
        assert value("reelsmith_budget_state", state="ok") == 0
        assert value("reelsmith_budget_limit_usd", level="hard") == 0.01
        assert 0 < value("reelsmith_budget_committed_usd") <= job["estimated_cost"]
        refused_before = value("reelsmith_budget_commits_total", outcome="refused")
        # Over the hard limit new work is held (`paused`) unless the caller asks for a refusal.
        status, _, _ = await system.call("POST", "/api/v2/jobs?on_budget=reject", json=brief)
        assert status == 429
        assert value("reelsmith_budget_commits_total", outcome="refused") == refused_before + 1


async def test_a_failed_storyboard_ends_the_job_with_an_error_line(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # No storyboard worker: the test reports the failure as one would.
    async with running_system(
        nats_server.url, tmp_path, storyboard_workers=0, renderer_workers=0, assets_workers=0
    ) as system:
        job = await system.create_job()
        labels = {"platform": "tiktok", "backend": "local", "stage": "storyboard"}
        before = value("reelsmith_jobs_failed_total", **labels)
        failed = StoryboardFailed(error_message="storyboard generation failed: model down")
        with json_log_file(tmp_path / "log.jsonl") as path:
            await system.bus.publish(failed.envelope(job_id=job["id"], client_id="client-a"))
            await system.wait_status(job["id"], "failed")
        # Counted under its stage, and one ERROR job_completed line with the reason.
        assert value("reelsmith_jobs_failed_total", **labels) == before + 1
        lines = [orjson.loads(line) for line in path.read_text().splitlines()]
        (line,) = [x for x in lines if x["event"] == "job_completed"]
        assert line["level"] == "ERROR" and line["job_id"] == job["id"]
        assert line["reason"] == "storyboard generation failed"
        assert line["stage"] == "storyboard" and line["status"] == "failed"
