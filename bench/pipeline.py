"""Pipeline throughput: N briefs submitted at once, each followed over SSE to storyboard_ready.

Starts the real system (`python -m deploy.run_local`: nats-server, gateway, storyboard, renderer,
assets, billing as separate processes) with small frames, submits `--jobs` jobs concurrently
with `POST /api/v2/jobs`, follows each with `GET /api/v2/jobs/{id}/events` until it is
`storyboard_ready`, and prints throughput and latency. A figure, not a pass/fail test.

It prints the CPU each process used during the run and, with `--profile DIR`, a py-spy
summary of the gateway and the storyboard worker. With `--hops` (the default) a second
pass follows on a fresh system whose services export their spans to a receiver in this
process (bench/_traces.py), and it prints where a job's time goes, hop by hop
(bench/_hops.py); the export costs throughput, so the first pass runs without it.

Example::

    .venv/bin/python bench/pipeline.py --jobs 200
    .venv/bin/python bench/pipeline.py --no-hops --profile /tmp/flames
    .venv/bin/python bench/pipeline.py --url http://127.0.0.1:8080 --token "$TOKEN"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from _bus_reference import bus_alone
from _hops import ClientTimes, job_hops, print_hops
from _profile import CpuMeter, PySpy, flame_summary, print_cpu, print_flame, service_processes
from _system import (
    System,
    add_system_arguments,
    check_system_arguments,
    frame_size,
    percentile,
    running_system,
)
from _traces import FAST_EXPORT, TraceReceiver

TARGET_JOBS_PER_S = 100.0
TARGET_P95_MS = 2000.0
READY = "storyboard_ready"
FAILED = ("failed", "canceled")
READ_BUFSIZE = 1 << 20
PROFILED = ("gateway", "storyboard")
PROFILE_RATE = 100
# Spans reach the receiver within the export schedule (FAST_EXPORT); a second without an
# export means every service's queue is empty.
SPANS_QUIET_S = 1.0
SPANS_WAIT_S = 30.0


@dataclass
class Stamps:
    """One job's client-side moments in Unix nanoseconds (comparable with span times)."""

    job_id: str = ""
    post_ns: int = 0
    accepted_ns: int = 0
    ready_ns: int = 0


@dataclass(frozen=True)
class Outcome:
    started: float
    finished: float
    error: str | None = None
    stamps: Stamps | None = None

    @property
    def latency_s(self) -> float:
        return self.finished - self.started


# Ten products, each brief its own brand name: like a platform's traffic, words recur across
# briefs (the products', the call to action's) but no two briefs draw the same frames.
PRODUCTS = (
    "steel water bottle that keeps drinks cold for 24 hours",
    "oat milk with 30% less sugar",
    "running shoe that weighs 180 g",
    "vitamin C serum that brightens skin in 7 days",
    "bamboo toothbrush, plastic-free",
    "noise cancelling headphones with 40 hours of battery",
    "cold brew coffee, no added sugar",
    "yoga mat that never slips",
    "dog food made with real chicken",
    "sunscreen SPF 50, reef safe",
)


def brief(index: int) -> dict[str, object]:
    product = PRODUCTS[index % len(PRODUCTS)]
    return {
        "campaign_id": f"bench-{index % 10}",
        "prompt": f"Launch ad #{index} for the Zeno{index} {product}",
        "platform": "tiktok",
        "duration_s": 15,
        "brand": {"colors": ["#0F4C81", "#F5B700", "#FFFFFF"], "tone": "energetic"},
    }


async def follow_until_ready(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], stamps: Stamps
) -> str | None:
    """Read the job's SSE stream until it is storyboard_ready (None) or failed (the reason)."""
    async with session.get(url, headers=headers) as response:
        if response.status != 200:
            return f"events answered {response.status}"
        event, data = "", []
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif not line and data:
                if event == "job":
                    job = json.loads("\n".join(data))
                    if job["status"] == READY:
                        stamps.ready_ns = time.time_ns()
                        return None
                    if job["status"] in FAILED:
                        return f"job {job['status']}: {job.get('error_message')}"
                event, data = "", []
        return "event stream ended before storyboard_ready"


async def run_job(
    session: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    index: int,
    stamps: Stamps,
) -> str | None:
    """Submit one brief and follow it to storyboard_ready (None) or the reason it did not."""
    try:
        stamps.post_ns = time.time_ns()
        async with session.post(f"{base}/api/v2/jobs", json=brief(index), headers=headers) as r:
            body = await r.read()
            stamps.accepted_ns = time.time_ns()
            if r.status != 202:
                return f"POST answered {r.status}: {body[:200]!r}"
            job_id = stamps.job_id = json.loads(body)["id"]
        url = f"{base}/api/v2/jobs/{job_id}/events"
        return await follow_until_ready(session, url, headers, stamps)
    except aiohttp.ClientError as exc:
        return f"{type(exc).__name__}: {exc}"


async def timed_job(
    session: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    index: int,
    job_timeout_s: float,
) -> Outcome:
    """One job's latency: from just before its POST to seeing it storyboard_ready."""
    started = time.perf_counter()
    stamps = Stamps()
    try:
        async with asyncio.timeout(job_timeout_s):
            error = await run_job(session, base, headers, index, stamps)
    except TimeoutError:
        error = f"not storyboard_ready after {job_timeout_s:.0f} s"
    return Outcome(started, time.perf_counter(), error, stamps)


async def run_jobs(
    base: str, token: str, count: int, job_timeout_s: float
) -> tuple[list[Outcome], float, float]:
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=0)
    client_timeout = aiohttp.ClientTimeout(total=None, connect=30)
    async with aiohttp.ClientSession(
        connector=connector, timeout=client_timeout, read_bufsize=READ_BUFSIZE
    ) as session:
        tasks = [timed_job(session, base, headers, i, job_timeout_s) for i in range(count)]
        outcomes = await asyncio.gather(*tasks)
    ok = [o for o in outcomes if o.error is None]
    first = min(o.started for o in outcomes)
    last = max((o.finished for o in ok), default=first)
    return outcomes, first, last


def report(
    outcomes: list[Outcome],
    first: float,
    last: float,
    divisor: int | None,
    label: str,
    reference: float | None = None,
) -> None:
    ok = sorted(o.latency_s * 1000 for o in outcomes if o.error is None)
    errors = [o.error for o in outcomes if o.error is not None]
    wall = last - first
    rate = len(ok) / wall if wall > 0 else 0.0
    p95 = percentile(ok, 95)
    verdict = "meets" if rate >= TARGET_JOBS_PER_S and p95 < TARGET_P95_MS else "below"
    print()
    print(f"pipeline benchmark: {len(outcomes)} jobs -> {READY} ({label})")
    print(f"  jobs              {len(outcomes)}")
    print(f"  errors            {len(errors)}")
    print(f"  wall              {wall:.2f} s  (first POST to last {READY})")
    print(
        f"  throughput        {rate:.1f} jobs/s  (target >= {TARGET_JOBS_PER_S:.0f} jobs/s"
        f" with p95 < {TARGET_P95_MS:.0f} ms on 2 cores: {verdict})"
    )
    if reference:
        print(
            f"  reference         {reference:,.0f} jobs/s: the bus alone (the same messages"
            f" through the same nats-server, no service code; this run: {rate / reference:.1%})"
        )
    print(f"  latency p50       {percentile(ok, 50):.0f} ms")
    print(f"  latency p95       {p95:.0f} ms")
    print(f"  latency max       {max(ok, default=0.0):.0f} ms")
    print(f"  frame size        {frame_size(divisor)}")
    print(f"  cpu_count         {os.cpu_count()}")
    for error in sorted(set(errors))[:5]:
        print(f"  error: {error} (x{errors.count(error)})")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs to submit (default 200)")
    parser.add_argument(
        "--warmup", type=int, default=0, help="jobs run (and not counted) before the measurement"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds one job may take (default 300)"
    )
    parser.add_argument(
        "--hops",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="then run a second pass on a fresh system that exports its spans here, and print"
        " where a job's time goes (default on; not with --url)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help=f"record {' and '.join(PROFILED)} with py-spy during the run into DIR (raw format)",
    )
    add_system_arguments(parser)
    args = parser.parse_args()
    check_system_arguments(parser, args)
    if args.jobs < 1 or args.warmup < 0:
        parser.error("--jobs must be >= 1 and --warmup >= 0")
    if args.url and args.hops:
        print("bench: --url: hops need the launched system's spans, skipping them", flush=True)
        args.hops = False
    try:
        await bench(args)
    except (RuntimeError, TimeoutError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    return 0


async def bench(args: argparse.Namespace) -> None:
    """The measured pass (no span export: it costs about 15% of the throughput), then,
    with --hops, the breakdown pass on a fresh system exporting its spans."""
    async with running_system(args) as system:
        label = "external system" if args.url else "local backend, launched by the benchmark"
        await measured_pass(args, system, label)
    if args.hops:
        async with TraceReceiver() as receiver:
            env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, **FAST_EXPORT}
            print("bench: breakdown pass, spans exported", flush=True)
            async with running_system(args, env) as system:
                outcomes = await timed_pass(args, system, "breakdown pass, spans exported")
                await _spans_settled(receiver)
            clients = [_client_times(o.stamps) for o in outcomes if o.stamps and not o.error]
            print_hops(job_hops(receiver.spans(), clients), len(clients))


async def timed_pass(args: argparse.Namespace, system: System, label: str) -> list[Outcome]:
    """Warm-up (if asked), then the jobs, reported; their outcomes."""
    await warm_up(args, system)
    print(f"bench: submitting {args.jobs} jobs", flush=True)
    outcomes, first, last = await run_jobs(system.url, system.token, args.jobs, args.timeout)
    report(outcomes, first, last, system.frame_divisor, label)
    return outcomes


async def measured_pass(args: argparse.Namespace, system: System, label: str) -> None:
    """The bus alone (the reference), then the jobs, with each process's CPU and, with
    --profile, py-spy on the hottest two."""
    reference = None
    if system.nats_url:
        print(f"bench: the bus alone, {args.jobs} jobs' messages (reference)", flush=True)
        reference = await bus_alone(system.nats_url, args.jobs)
    await warm_up(args, system)
    procs = _processes(system)
    meter = CpuMeter(procs) if procs else None
    profiled = [name for name in PROFILED if name in procs] if args.profile else []
    print(f"bench: submitting {args.jobs} jobs", flush=True)
    async with contextlib.AsyncExitStack() as profiling:
        for name in profiled:
            args.profile.mkdir(parents=True, exist_ok=True)
            spy = PySpy(procs[name], args.profile / f"{name}.txt", PROFILE_RATE)
            await profiling.enter_async_context(spy)
        outcomes, first, last = await run_jobs(system.url, system.token, args.jobs, args.timeout)
        used = meter.used() if meter else None
    report(outcomes, first, last, system.frame_divisor, label, reference)
    if used is not None:
        print_cpu(used, last - first, sum(o.error is None for o in outcomes))
    for name in profiled:
        if (path := args.profile / f"{name}.txt").exists():
            print_flame(name, flame_summary(path), PROFILE_RATE)


async def warm_up(args: argparse.Namespace, system: System) -> None:
    if args.warmup:
        warm, _, _ = await run_jobs(system.url, system.token, args.warmup, args.timeout)
        failed = sum(o.error is not None for o in warm)
        print(f"bench: warm-up {len(warm)} jobs, {failed} errors", flush=True)


def _processes(system: System) -> dict[str, int]:
    """The launched system's processes, or none when they cannot be found (--url)."""
    port = int(system.url.rsplit(":", 1)[1])
    try:
        return service_processes(port)
    except (LookupError, OSError, ValueError):
        return {}


def _client_times(stamps: Stamps) -> ClientTimes:
    return ClientTimes(stamps.job_id, stamps.post_ns, stamps.accepted_ns, stamps.ready_ns)


async def _spans_settled(receiver: TraceReceiver) -> None:
    """Wait until no export has arrived for SPANS_QUIET_S (bounded by SPANS_WAIT_S)."""
    deadline = time.monotonic() + SPANS_WAIT_S
    while time.monotonic() < deadline:
        if receiver.requests and time.monotonic() - receiver.last_received >= SPANS_QUIET_S:
            return
        await asyncio.sleep(0.1)
    print(f"bench: spans still arriving after {SPANS_WAIT_S:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        sys.exit(130)
