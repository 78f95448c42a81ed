"""The gateway's own series (jobs by outcome, the poll cache, uploads, the seed's business
metrics) and the `job_completed` log line, written once when a job ends.

The business metrics are ratios of counters, computed in Prometheus (see
deploy/prometheus/rules/): storyboard approval rate = approved / ready, refinements per
job = refinements / ready, average cost per video = completed jobs' cost / videos.

Example::

    observe = JobObserver(backend="local")
    observe(event, record)            # after the projection applied `event`
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from services.gateway.jobs.store import JobRecord
from shared.events import (
    Event,
    RenderCompleted,
    RenderFailed,
    StoryboardCompleted,
    StoryboardFailed,
)
from shared.logging import get_logger, log_context
from shared.metrics import JOB_DURATION
from shared.models import JobStatus

log = get_logger(__name__)

JOBS_CREATED = Counter(
    "reelsmith_jobs_created_total", "Jobs accepted (POST /jobs)", ["platform", "backend"]
)
JOBS_COMPLETED = Counter(
    "reelsmith_jobs_completed_total", "Jobs whose videos are ready", ["platform", "backend"]
)
JOBS_FAILED = Counter(
    "reelsmith_jobs_failed_total",
    "Jobs that failed, by the stage that failed (storyboard, render)",
    ["platform", "backend", "stage"],
)
JOBS_CANCELED = Counter(
    "reelsmith_jobs_canceled_total", "Jobs canceled by their client", ["platform", "backend"]
)


class PollCacheCounts(Collector):
    """Hits and misses of the poll cache as plain ints: the poll hot path pays an
    attribute increment (~50 ns), not a prometheus_client counter (~1 µs)."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    def describe(self) -> Iterable[Metric]:
        return [self._family()]

    def collect(self) -> Iterable[Metric]:
        family = self._family()
        family.add_metric(["hit"], self.hits)
        family.add_metric(["miss"], self.misses)
        return [family]

    @staticmethod
    def _family() -> CounterMetricFamily:
        return CounterMetricFamily(
            "reelsmith_poll_cache_requests",
            "Job lookups in the poll cache (GET /jobs/{id} and every job route), by result",
            labels=["result"],
        )


POLL_CACHE = PollCacheCounts()
REGISTRY.register(POLL_CACHE)

STORYBOARDS_READY = Counter(
    "reelsmith_storyboards_ready_total", "First storyboards delivered for review", ["platform"]
)
STORYBOARDS_APPROVED = Counter(
    "reelsmith_storyboards_approved_total",
    "Storyboards approved for rendering (a job counts once)",
    ["platform"],
)
REFINEMENTS = Counter(
    "reelsmith_scene_refinements_total", "Scene refinements delivered", ["platform"]
)
VIDEOS_COMPLETED = Counter(
    "reelsmith_videos_completed_total",
    "Finished videos (one per variation) of completed jobs",
    ["platform", "backend"],
)
COMPLETED_COST = Counter(
    "reelsmith_completed_jobs_cost_usd_total",
    "Actual cost of completed jobs, as known when they completed",
    ["platform", "backend"],
)

MIB = 1024 * 1024
UPLOAD_SIZE = Histogram(
    "reelsmith_upload_size_bytes",
    "Accepted uploads by asset kind (the sum is the bytes uploaded)",
    ["kind"],
    buckets=(64 * 1024, 256 * 1024, MIB, 4 * MIB, 16 * MIB, 32 * MIB, 50 * MIB),
)
UPLOAD_REJECTIONS = Counter(
    "reelsmith_upload_rejections_total",
    "Refused uploads by reason (the error code answered: payload_too_large, ...)",
    ["reason"],
)

REASON_MAX = 80


def failure_reason(error_message: str | None) -> str:
    """A short, groupable reason from a job's error message: its leading clause
    ("render failed: <details>" → "render failed"); the details stay in the message."""
    if not error_message:
        return "unknown"
    return error_message.split(":", 1)[0].strip()[:REASON_MAX] or "unknown"


def job_created(platform: str, backend: str) -> None:
    JOBS_CREATED.labels(platform, backend).inc()


def job_approved(record: JobRecord, first_time: bool) -> None:
    if first_time:
        STORYBOARDS_APPROVED.labels(record.request.platform.value).inc()


def job_ended(record: JobRecord, backend: str, failed_stage: str | None = None) -> None:
    """Count a job that reached a final state and log `job_completed` for it: level
    ERROR with a `reason` when it failed. `duration_ms` runs from the brief to now."""
    job, platform = record.job, record.request.platform.value
    seconds = max(0.0, (datetime.now(UTC) - job.created_at).total_seconds())
    actual = float(job.actual_cost or 0.0)
    estimated = float(job.estimated_cost or 0.0)
    videos = sum(1 for output in job.outputs if output.kind == "render")
    fields: dict[str, Any] = {
        "status": job.status.value,
        "duration_ms": round(seconds * 1000),
        "actual_cost": round(actual, 6),
        "estimated_cost": round(estimated, 6),
        "cost_ratio": round(actual / estimated, 4) if estimated > 0 else None,
        "platform": platform,
        "backend": backend,
        "videos": videos,
    }
    level = logging.INFO
    if job.status == JobStatus.completed:
        JOBS_COMPLETED.labels(platform, backend).inc()
        VIDEOS_COMPLETED.labels(platform, backend).inc(videos)
        COMPLETED_COST.labels(platform, backend).inc(actual)
        JOB_DURATION.labels("total", platform, backend).observe(seconds)
    elif job.status == JobStatus.failed:
        JOBS_FAILED.labels(platform, backend, failed_stage or "unknown").inc()
        fields |= {
            "stage": failed_stage,
            "reason": failure_reason(job.error_message),
            "error_message": job.error_message,
        }
        level = logging.ERROR
    else:
        JOBS_CANCELED.labels(platform, backend).inc()
    with log_context(job_id=job.id):
        log.log(level, "job_completed", extra=fields)


class JobObserver:
    """Metrics and logs for what a projected worker event did to its job (called only
    when the projection applied the event, so each transition counts once)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def __call__(self, event: Event[Any], record: JobRecord) -> None:
        data, status = event.data, record.job.status
        platform = record.request.platform.value
        if isinstance(data, StoryboardCompleted):
            if data.refined_scene is not None:
                REFINEMENTS.labels(platform).inc()
                return
            STORYBOARDS_READY.labels(platform).inc()
            seconds = (datetime.now(UTC) - record.job.created_at).total_seconds()
            JOB_DURATION.labels("storyboard", platform, self.backend).observe(max(0.0, seconds))
        elif isinstance(data, StoryboardFailed) and status == JobStatus.failed:
            job_ended(record, self.backend, "storyboard")
        elif isinstance(data, RenderCompleted | RenderFailed) and data.export_id is None:
            if status == JobStatus.completed:
                job_ended(record, self.backend)
            elif status == JobStatus.failed:
                job_ended(record, self.backend, "render")
