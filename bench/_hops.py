"""Where a pipeline job's time goes: its spans (one trace per job, the trace id is the job
id) and the client's own timestamps cut into hops, from the POST to the SSE event that
shows `storyboard_ready`, with p50/p95 of each over all jobs.

A row is either time spent inside a span (`in`) or the gap between one hop's end and the
next one's start (`gap`: waiting in a queue, a loop, the network). The services and the
benchmark share one clock (same machine), so client timestamps and span times compare.

Example::

    hops = job_hops(receiver.spans(), [ClientTimes(job_id, post_ns, accepted_ns, ready_ns)])
    print_hops(hops)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from _system import percentile
from _traces import SpanRecord

MS = 1e-6
GATEWAY, STORYBOARD = "gateway", "storyboard"
REQUESTED, PROGRESS, COMPLETED = (
    "jobs.storyboard.requested",
    "jobs.storyboard.progress",
    "jobs.storyboard.completed",
)


@dataclass(frozen=True)
class ClientTimes:
    """What the benchmark saw of one job, in Unix nanoseconds."""

    job_id: str
    post_ns: int  # just before the POST
    accepted_ns: int  # the 202 read
    ready_ns: int  # the SSE event showing storyboard_ready read


@dataclass
class JobSpans:
    """The spans of one job's trace, plus the HTTP request that created it."""

    client: ClientTimes
    spans: list[SpanRecord]
    post: SpanRecord | None = None

    def first(self, name: str, service: str | None = None) -> SpanRecord | None:
        matches = [s for s in self.spans if s.name == name and service in (None, s.service)]
        return min(matches, key=lambda s: s.start_ns, default=None)


@dataclass
class Row:
    label: str
    kind: str  # "in" a span, or the "gap" between two hops
    values_ms: list[float] = field(default_factory=list)
    per_job: float | None = None  # spans of this name per job, for breakdown rows
    indent: int = 0


Measure = Callable[[JobSpans], float | None]
Point = Callable[[JobSpans], int | None]

CREATE, SEND = f"create {REQUESTED}", f"send {REQUESTED}"
WORK, RESULT = f"process {REQUESTED}", f"publish {COMPLETED}"
PROJECT, PROJECT_PROGRESS = f"process {COMPLETED}", f"process {PROGRESS}"


def start(name: str, service: str | None = None) -> Point:
    return lambda job: s.start_ns if (s := job.first(name, service)) else None


def end(name: str, service: str | None = None) -> Point:
    return lambda job: s.end_ns if (s := job.first(name, service)) else None


def post_start(job: JobSpans) -> int | None:
    return job.post.start_ns if job.post else None


def post_end(job: JobSpans) -> int | None:
    return job.post.end_ns if job.post else None


def client(moment: str) -> Point:
    return lambda job: getattr(job.client, moment)


def between(before: Point, after: Point) -> Measure:
    def measure(job: JobSpans) -> float | None:
        first, then = before(job), after(job)
        return None if first is None or then is None else (then - first) * MS

    return measure


def inside(name: str, service: str | None = None) -> Measure:
    return between(start(name, service), end(name, service))


# The hops of one job, in the order a job meets them: (label, kind, measure).
HOPS: tuple[tuple[str, str, Measure], ...] = (
    ("client POST -> gateway span starts", "gap", between(client("post_ns"), post_start)),
    ("gateway: POST /api/v2/jobs", "in", between(post_start, post_end)),
    ("gateway answers -> client has the 202", "gap", between(post_end, client("accepted_ns"))),
    ("outbox: enqueued -> relay sends", "gap", between(end(CREATE), start(SEND))),
    ("outbox: publish (until PubAck)", "in", inside(SEND)),
    ("queue -> storyboard consumer", "gap", between(end(SEND), start(WORK, STORYBOARD))),
    ("storyboard: process requested", "in", inside(WORK, STORYBOARD)),
    ("storyboard: publish completed", "in", inside(RESULT, STORYBOARD)),
    ("queue -> gateway projection", "gap", between(end(RESULT, STORYBOARD), start(PROJECT))),
    ("gateway: project completed", "in", inside(PROJECT, GATEWAY)),
    ("projection -> SSE client has it", "gap", between(end(PROJECT, GATEWAY), client("ready_ns"))),
)
Pick = Callable[[JobSpans], SpanRecord | None]
# Spans whose children are broken down under their row.
BROKEN_DOWN: dict[str, Pick] = {
    "gateway: POST /api/v2/jobs": lambda job: job.post,
    "storyboard: process requested": lambda job: job.first(WORK, STORYBOARD),
}


def assemble(spans: Iterable[SpanRecord], clients: Iterable[ClientTimes]) -> list[JobSpans]:
    """Each job's spans (its trace) and its POST span (linked from the job's root span)."""
    by_trace: dict[str, list[SpanRecord]] = defaultdict(list)
    by_id: dict[tuple[str, str], SpanRecord] = {}
    for span in spans:
        by_trace[span.trace_id].append(span)
        by_id[span.trace_id, span.span_id] = span
    jobs = []
    for client in clients:
        job = JobSpans(client, by_trace.get(client.job_id, []))
        created = job.first("create jobs.created", GATEWAY)
        for link in created.links if created else ():
            if (linked := by_id.get(link)) is not None and linked.kind == "server":
                job.post = linked
        jobs.append(job)
    return jobs


def _breakdown(jobs: list[JobSpans], pick: Pick, spans: list[SpanRecord]) -> list[Row]:
    """Under a span's row: each kind of child span (every one's duration, how many a job
    has), and the gaps before the first child and after the last."""
    children_of: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        children_of[span.parent_id].append(span)
    by_name: dict[str, list[float]] = defaultdict(list)
    lead, tail, parents = [], [], 0
    for job in jobs:
        parent = pick(job)
        if parent is None:
            continue
        parents += 1
        kids = [k for k in children_of.get(parent.span_id, []) if k.trace_id == parent.trace_id]
        for kid in kids:
            by_name[kid.name].append(kid.duration_ns * MS)
        if kids:
            lead.append((min(k.start_ns for k in kids) - parent.start_ns) * MS)
            tail.append((parent.end_ns - max(k.end_ns for k in kids)) * MS)
    if not by_name:
        return []
    rows = [Row("start -> first child span", "gap", lead, indent=1)]
    for name, values in sorted(by_name.items(), key=lambda item: -sum(item[1])):
        rows.append(Row(name, "in", values, per_job=len(values) / max(parents, 1), indent=1))
    rows.append(Row("last child span -> end", "gap", tail, indent=1))
    return rows


def job_hops(spans: list[SpanRecord], clients: list[ClientTimes]) -> list[Row]:
    """The hop table: one row per hop, breakdown rows (indented) under the spans that have
    children, then the gateway's handling of progress events (when there were any: a
    storyboard drawn within half a second reports none) and the end-to-end latency."""
    jobs = assemble(spans, clients)
    rows = []
    for label, kind, measure in HOPS:
        values = [v for job in jobs if (v := measure(job)) is not None]
        rows.append(Row(label, kind, values))
        if (pick := BROKEN_DOWN.get(label)) is not None:
            rows += _breakdown(jobs, pick, spans)
    progress = [
        s.duration_ns * MS
        for job in jobs
        for s in job.spans
        if s.name == PROJECT_PROGRESS and s.service == GATEWAY
    ]
    if progress:
        per_job = len(progress) / len(jobs)
        rows.append(Row("gateway: project progress (each)", "in", progress, per_job=per_job))
    latency = [(job.client.ready_ns - job.client.post_ns) * MS for job in jobs]
    rows.append(Row("end to end (client)", "total", latency))
    return rows


def print_hops(rows: list[Row], jobs: int) -> None:
    print()
    print(f"where a job's time goes ({jobs} jobs; ms; 'in' = inside a span, 'gap' = between hops)")
    print(f"  {'hop':58} {'':5} {'p50':>8} {'p95':>8} {'n':>5} {'/job':>5}")
    for row in rows:
        values = sorted(row.values_ms)
        label = ("  " * row.indent + row.label)[:58]
        per_job = f"{row.per_job:5.1f}" if row.per_job is not None else ""
        print(
            f"  {label:58} {row.kind:5} {percentile(values, 50):8.1f} {percentile(values, 95):8.1f}"
            f" {len(values):5d} {per_job:>5}"
        )
