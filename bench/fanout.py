"""Fan-out on the replicate backend: N concurrent jobs of 6 scenes each, brief to final.mp4,
against the fake Replicate server with a realistic latency model scaled down (frame ≈ 2 s,
clip ≈ 60 s, script ≈ 3 s, all scaled by 0.05 by default).

Starts the real system (`python -m deploy.run_local` with `GENERATION_BACKEND=replicate`,
which also starts `python -m tools.fake_replicate`), runs one warm-up job, then submits the
jobs at once; each is approved and rendered as soon as its storyboard is ready. Prints:

- wall time (first POST to last `completed`) against the critical path: the slowest job's
  script → frames → clips chain (the fake's own create-to-complete times of that job's
  predictions; every frame precedes approval, every clip precedes composition) plus its
  composition (render progress past the footage to `completed`); target ratio ≤ 1.15;
- API requests per prediction (creates, polls, cancels, downloads, all counted by the fake).

With `--no-webhooks` predictions are followed by polling alone. A figure, not a test.

Example::

    .venv/bin/python bench/fanout.py --jobs 10
    .venv/bin/python bench/fanout.py --jobs 10 --no-webhooks
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from _system import Launcher, _log_tail, free_ports

# Scenes of the planner for a 27 s ad: 6 (about 4.5 s each, so one 5 s clip per scene).
DURATION_S = 27
FOOTAGE_SHARE = 60.0  # render progress once every clip is in (services/renderer/rendering.py)
TARGET_RATIO = 1.15
NAMES = ("Alder", "Birchwell", "Cobalto", "Dunmore", "Elmsway", "Fernhart", "Galloway", "Hollins")


@dataclass
class Timeline:
    index: int
    job_id: str = ""
    submitted: float = 0.0
    storyboard_ready: float = 0.0
    footage_done: float = 0.0
    completed: float = 0.0
    error: str | None = None
    estimated_cost: float = 0.0


@dataclass
class Chain:
    """A job's model time along its dependencies: the script, then every frame (the client
    approves the whole storyboard), then every clip and the voice-over."""

    script_s: float = 0.0
    frames: dict[str, float] = field(default_factory=dict)  # scene → seconds
    clips: dict[str, float] = field(default_factory=dict)
    voice_s: float = 0.0

    @property
    def frame_s(self) -> float:
        return max(self.frames.values(), default=0.0)

    @property
    def footage_s(self) -> float:
        return max([self.voice_s, *self.clips.values()])

    @property
    def models_s(self) -> float:
        return self.script_s + self.frame_s + self.footage_s


class FanoutLauncher(Launcher):
    """`make run`'s launcher with the replicate backend on the fake, sized for N jobs."""

    def __init__(self, args: argparse.Namespace) -> None:
        # One storyboard worker: REPLICATE_MAX_CONCURRENCY below is a per-process bound.
        super().__init__(frame_divisor=20, keep_data=args.keep_data, storyboard_replicas=1)
        self.args = args
        self.fake_port = free_ports(1)[0]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        scale = self.args.scale
        env.update(
            GENERATION_BACKEND="replicate",
            REPLICATE_FAKE="1",
            REPLICATE_FAKE_PORT=str(self.fake_port),
            REPLICATE_FAKE_LATENCY_SCALE=str(scale),
            REPLICATE_FAKE_RESOLUTION_DIVISOR="8",
            # Our polling bounds scaled like the fake's latencies (1 s → 10 s in production).
            REPLICATE_POLL_MIN_S=str(1.0 * scale),
            REPLICATE_POLL_MAX_S=str(10.0 * scale),
            RENDER_SCALE_DIVISOR="10",
            STORYBOARD_CONCURRENCY=str(self.args.jobs),
            SCENE_CONCURRENCY="6",
            RENDER_CONCURRENCY=str(self.args.jobs),
            REPLICATE_MAX_CONCURRENCY=str(self.args.jobs * 8),
            DAILY_BUDGET_SOFT_USD="10000",
            DAILY_BUDGET_HARD_USD="20000",
            LOG_LEVEL="INFO",
        )
        for name in ("REPLICATE_API_TOKEN", "REPLICATE_API_KEY", "REPLICATE_BASE_URL"):
            env.pop(name, None)
        if self.args.no_webhooks:
            env["PUBLIC_BASE_URL"] = ""
        return env

    @property
    def fake_url(self) -> str:
        return f"http://127.0.0.1:{self.fake_port}"


def brief(index: int) -> dict[str, Any]:
    name = NAMES[index % len(NAMES)]
    return {
        "campaign_id": "fanout",
        "prompt": f"Introducing {name} Bottle, the steel bottle that keeps drinks cold all day.",
        "platform": "tiktok",
        "duration_s": DURATION_S,
        "brand": {"colors": ["#0F4C81", "#F5B700"], "tone": "energetic"},
        "call_to_action": "Shop today",
    }


async def events(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> Any:
    """Job snapshots from the job's SSE stream, as they come."""
    async with session.get(url, headers=headers) as response:
        response.raise_for_status()
        kind, data = "", []
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif not line and data:
                if kind == "job":
                    yield json.loads("\n".join(data))
                kind, data = "", []


async def run_job(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str], timeline: Timeline
) -> None:
    timeline.submitted = time.monotonic()
    async with session.post(
        f"{base}/api/v2/jobs", json=brief(timeline.index), headers=headers
    ) as r:
        body = await r.json()
        if r.status != 202:
            timeline.error = f"POST answered {r.status}: {body}"
            return
    timeline.job_id = body["id"]
    timeline.estimated_cost = body.get("estimated_cost") or 0.0
    job_url = f"{base}/api/v2/jobs/{timeline.job_id}"
    async for job in events(session, f"{job_url}/events", headers):
        now = time.monotonic()
        status = job["status"]
        if status == "storyboard_ready" and not timeline.storyboard_ready:
            timeline.storyboard_ready = now
            for step in ("approve", "render"):
                async with session.post(f"{job_url}/{step}", headers=headers) as r:
                    if r.status >= 300:
                        timeline.error = f"{step} answered {r.status}: {await r.text()}"
                        return
        elif status == "rendering" and job["progress"]["percent"] >= FOOTAGE_SHARE:
            timeline.footage_done = timeline.footage_done or now
        elif status == "completed":
            timeline.completed = now
            timeline.footage_done = timeline.footage_done or now
            return
        elif status in ("failed", "canceled"):
            timeline.error = f"{status}: {job.get('error_message')}"
            return


async def run_jobs(base: str, token: str, count: int, start: int) -> list[Timeline]:
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=None, connect=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        timelines = [Timeline(index=start + n) for n in range(count)]
        await asyncio.gather(*(run_job(session, base, headers, t) for t in timelines))
    return timelines


def predictions_by_job(logs: Path) -> dict[str, dict[str, tuple[str, str]]]:
    """job id → prediction id → (model, slot), from the services' JSON logs."""
    found: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for name in ("storyboard.jsonl", "renderer.jsonl"):
        path = logs / name
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "replicate.prediction_created" and entry.get("job_id"):
                found[entry["job_id"]][entry["prediction_id"]] = (entry["model"], entry["slot"])
    return found


def _seconds(record: dict[str, Any]) -> float:
    start = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(record["completed_at"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


async def chains(fake_url: str, by_job: dict[str, dict[str, tuple[str, str]]]) -> dict[str, Chain]:
    """Per job: the fake's own create→complete seconds of its script, frames, clips."""
    result: dict[str, Chain] = {}
    async with aiohttp.ClientSession() as session:
        for job_id, predictions in by_job.items():
            chain = Chain()
            for prediction_id, (_model, slot) in predictions.items():
                async with session.get(f"{fake_url}/_fake/predictions/{prediction_id}") as r:
                    record = await r.json()
                if not record.get("completed_at"):
                    continue
                seconds = _seconds(record)
                if slot.startswith("script"):
                    chain.script_s += seconds
                elif slot == "voice":
                    chain.voice_s = seconds
                elif slot.startswith("v"):
                    chain.clips[slot.split("s", 1)[1]] = seconds
                else:
                    chain.frames[slot[1:]] = seconds
            result[job_id] = chain
    return result


async def fake_stats(fake_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(f"{fake_url}/_fake/stats") as r:
        return dict(await r.json())


def difference(after: Any, before: Any) -> Any:
    """What the measured jobs added to the fake's counters (the warm-up's are taken off)."""
    if isinstance(after, dict):
        return {
            k: difference(v, before.get(k, 0) if isinstance(before, dict) else 0)
            for k, v in after.items()
        }
    if isinstance(after, int | float) and isinstance(before, int | float):
        return after - before
    return after


async def bench(args: argparse.Namespace) -> int:
    launcher = FanoutLauncher(args)
    try:
        launcher.start()
        print(f"bench: starting the system (data in {launcher.data_dir})", flush=True)
        async with asyncio.timeout(args.startup_timeout):
            token = await launcher.wait_token()
        base = f"http://127.0.0.1:{launcher.ports['GATEWAY_PORT']}"

        warm = await run_jobs(base, token, 1, start=len(NAMES) - 1)
        if warm[0].error:
            print(f"bench: warm-up failed: {warm[0].error}", file=sys.stderr)
            return 1
        before = await fake_stats(launcher.fake_url)

        print(f"bench: {args.jobs} jobs of 6 scenes at once", flush=True)
        timelines = await run_jobs(base, token, args.jobs, start=0)
        stats = difference(await fake_stats(launcher.fake_url), before)
        by_job = predictions_by_job(launcher.data_dir / "logs")
        job_chains = await chains(launcher.fake_url, by_job)
        report(args, timelines, job_chains, stats)
        return 0 if all(t.error is None for t in timelines) else 1
    except TimeoutError:
        print("bench: the system did not start:\n" + _log_tail(launcher.log_path), file=sys.stderr)
        return 1
    finally:
        await launcher.stop()


def report(
    args: argparse.Namespace,
    timelines: list[Timeline],
    job_chains: dict[str, Chain],
    stats: dict[str, Any],
) -> None:
    errors = [t.error for t in timelines if t.error]
    done = [t for t in timelines if t.error is None]
    wall = max(t.completed for t in done) - min(t.submitted for t in timelines)
    critical, slowest = 0.0, None
    for t in done:
        chain = job_chains.get(t.job_id, Chain())
        path = chain.models_s + t.completed - t.footage_done
        if path > critical:
            critical, slowest = path, (t, chain)
    creates = stats["creates_total"]
    requests = stats["requests_total"]
    print()
    mode = "polling only" if args.no_webhooks else "webhooks + polling"
    print(f"fan-out benchmark: {args.jobs} jobs x 6 scenes, latency scale {args.scale}, {mode}")
    print(f"  jobs completed      {len(done)} of {len(timelines)}")
    print(f"  wall                {wall:.2f} s  (first POST to last completed)")
    if slowest:
        t, chain = slowest
        print(
            f"  critical path       {critical:.2f} s  (script {chain.script_s:.2f} + frames "
            f"{chain.frame_s:.2f} + clips {chain.footage_s:.2f} + composition "
            f"{t.completed - t.footage_done:.2f})"
        )
        verdict = "meets" if wall / critical <= TARGET_RATIO else "above"
        print(f"  wall / critical     {wall / critical:.3f}  (target ≤ {TARGET_RATIO}: {verdict})")
    last = max(done, key=lambda t: t.completed)
    if last.job_id in job_chains:
        chain = job_chains[last.job_id]
        print(
            f"  last job to finish  storyboard {last.storyboard_ready - last.submitted:.2f} s, "
            f"footage {last.footage_done - last.storyboard_ready:.2f} s, composition "
            f"{last.completed - last.footage_done:.2f} s (models: script {chain.script_s:.2f} + "
            f"frames {chain.frame_s:.2f} s, clips {chain.footage_s:.2f} s)"
        )
    print(f"  predictions         {creates}  ({stats['creates']})")
    print(f"  API requests        {requests}  ({requests / max(1, creates):.2f} per prediction)")
    polls = stats["gets"]
    print(f"    polls             {polls}  ({polls / max(1, creates):.2f} per prediction)")
    print(f"    downloads         {stats['downloads']}")
    print(f"  webhooks delivered  {stats['webhooks']['delivered']}")
    print(f"  throttled (429)     {stats.get('rate_limited')}")
    print(f"  cpu_count           {os.cpu_count()}")
    for error in sorted(set(errors))[:5]:
        print(f"  error: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--scale", type=float, default=0.05, help="latency scale of the fake")
    parser.add_argument("--no-webhooks", action="store_true", help="follow by polling only")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    parser.add_argument("--keep-data", action="store_true")
    args = parser.parse_args()
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
