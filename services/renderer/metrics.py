"""The renderer's own series: how fast it turns storyboards into video (seconds of video
per wall-clock second), how long each phase encodes, the render stage of a job, and what
QC finds in the files (findings by check and severity, and how long it takes).

Example::

    with render_phase("compose", variation=1):
        info = await renderer.compose(...)
    observe_speed(info.duration_s, wall_s=12.5)
    observe_qc(report, "render")
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Histogram

from shared.checks.findings import QcReport
from shared.events import Event
from shared.metrics import JOB_DURATION
from shared.tracing import span

SPEED = Histogram(
    "reelsmith_render_speed_ratio",
    "Seconds of video made per wall-clock second, per rendered variation (clips reused from "
    "a checkpoint make a redelivered render look faster)",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)
ENCODE_SECONDS = Histogram(
    "reelsmith_render_encode_seconds",
    "Wall time of one render phase: footage (model clips), clips (engine, all scenes of a "
    "variation), compose (join, audio, captions), poster",
    ["phase"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200),
)

QC_FINDINGS = Counter(
    "reelsmith_qc_findings_total",
    "QC findings in rendered files (variations and exports), by check (e.g. qc.loudness) "
    "and severity (error, warning, info)",
    ["check", "severity"],
)
QC_SECONDS = Histogram(
    "reelsmith_qc_seconds",
    "Wall time of the QC of one file (decoding it once, the sound's meters, the text boxes), "
    "by kind of file (render, export)",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 60),
)


@contextlib.contextmanager
def render_phase(phase: str, **attributes: Any) -> Iterator[None]:
    """A `render.<phase>` span around the block, and its time in ENCODE_SECONDS."""
    started = time.perf_counter()
    with span(f"render.{phase}", **attributes):
        yield
    ENCODE_SECONDS.labels(phase).observe(time.perf_counter() - started)


def observe_speed(video_s: float, wall_s: float) -> None:
    if wall_s > 0:
        SPEED.observe(video_s / wall_s)


def observe_render_stage(event: Event[Any], backend: str) -> None:
    """The render stage of a job: from the render request (the event's time, so queueing
    counts) to its videos being ready."""
    seconds = (datetime.now(UTC) - event.occurred_at).total_seconds()
    platform = event.data.request.platform.value
    JOB_DURATION.labels("render", platform, backend).observe(max(0.0, seconds))


def observe_qc(report: QcReport, kind: str) -> None:
    QC_SECONDS.labels(kind).observe(report.seconds)
    for finding in report.findings:
        QC_FINDINGS.labels(finding.check, finding.severity).inc()
