"""Pipeline throughput: N briefs submitted at once, each followed over SSE to storyboard_ready.

Starts the real system (`python -m deploy.run_local`: nats-server, gateway, storyboard, renderer,
assets, billing as separate processes) with small frames, submits `--jobs` jobs concurrently
with `POST /api/v2/jobs`, follows each with `GET /api/v2/jobs/{id}/events` until it is
`storyboard_ready`, and prints throughput and latency. A figure, not a pass/fail test.

Example::

    .venv/bin/python bench/pipeline.py --jobs 200
    .venv/bin/python bench/pipeline.py --url http://127.0.0.1:8080 --token "$TOKEN"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass

import aiohttp
from _system import (
    add_system_arguments,
    check_system_arguments,
    frame_size,
    percentile,
    running_system,
)

TARGET_JOBS_PER_S = 50.0
READY = "storyboard_ready"
FAILED = ("failed", "canceled")
READ_BUFSIZE = 1 << 20


@dataclass(frozen=True)
class Outcome:
    started: float
    finished: float
    error: str | None = None

    @property
    def latency_s(self) -> float:
        return self.finished - self.started


def brief(index: int) -> dict[str, object]:
    return {
        "campaign_id": f"bench-{index % 10}",
        "prompt": f"Launch ad #{index} for a reusable steel water bottle that keeps drinks cold",
        "platform": "tiktok",
        "duration_s": 15,
        "brand": {"colors": ["#0F4C81", "#F5B700", "#FFFFFF"], "tone": "energetic"},
    }


async def follow_until_ready(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str]
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
                        return None
                    if job["status"] in FAILED:
                        return f"job {job['status']}: {job.get('error_message')}"
                event, data = "", []
        return "event stream ended before storyboard_ready"


async def run_job(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str], index: int
) -> str | None:
    """Submit one brief and follow it to storyboard_ready (None) or the reason it did not."""
    try:
        async with session.post(f"{base}/api/v2/jobs", json=brief(index), headers=headers) as r:
            body = await r.read()
            if r.status != 202:
                return f"POST answered {r.status}: {body[:200]!r}"
            job_id = json.loads(body)["id"]
        return await follow_until_ready(session, f"{base}/api/v2/jobs/{job_id}/events", headers)
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
    try:
        async with asyncio.timeout(job_timeout_s):
            error = await run_job(session, base, headers, index)
    except TimeoutError:
        error = f"not storyboard_ready after {job_timeout_s:.0f} s"
    return Outcome(started, time.perf_counter(), error)


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
    outcomes: list[Outcome], first: float, last: float, divisor: int | None, label: str
) -> None:
    ok = sorted(o.latency_s * 1000 for o in outcomes if o.error is None)
    errors = [o.error for o in outcomes if o.error is not None]
    wall = last - first
    rate = len(ok) / wall if wall > 0 else 0.0
    verdict = "meets" if rate >= TARGET_JOBS_PER_S else "below"
    print()
    print(f"pipeline benchmark: {len(outcomes)} jobs -> {READY} ({label})")
    print(f"  jobs              {len(outcomes)}")
    print(f"  errors            {len(errors)}")
    print(f"  wall              {wall:.2f} s  (first POST to last {READY})")
    print(
        f"  throughput        {rate:.1f} jobs/s  "
        f"(target >= {TARGET_JOBS_PER_S:.0f} jobs/s on 2 cores: {verdict})"
    )
    print(f"  latency p50       {percentile(ok, 50):.0f} ms")
    print(f"  latency p95       {percentile(ok, 95):.0f} ms")
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
    add_system_arguments(parser)
    args = parser.parse_args()
    check_system_arguments(parser, args)
    if args.jobs < 1 or args.warmup < 0:
        parser.error("--jobs must be >= 1 and --warmup >= 0")
    try:
        await bench(args)
    except (RuntimeError, TimeoutError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    return 0


async def bench(args: argparse.Namespace) -> None:
    async with running_system(args) as system:
        label = "external system" if args.url else "local backend, launched by the benchmark"
        if args.warmup:
            warm, _, _ = await run_jobs(system.url, system.token, args.warmup, args.timeout)
            failed = sum(o.error is not None for o in warm)
            print(f"bench: warm-up {len(warm)} jobs, {failed} errors", flush=True)
        print(f"bench: submitting {args.jobs} jobs", flush=True)
        outcomes, first, last = await run_jobs(system.url, system.token, args.jobs, args.timeout)
        report(outcomes, first, last, system.frame_divisor, label)


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        sys.exit(130)
