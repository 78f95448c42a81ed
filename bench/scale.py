"""Growth with data: the job list, the polls, the gateway's memory and the background loops
with 1,000,000 jobs, each beside the same figure with 1,000 jobs measured in the same run.

1. Builds two `app.db` through the real migrations and fills them in plain SQL
   (`bench/_dataset.py`): the reference, 1,000 jobs of one client; the large one, `--rows`
   (1,000,000) jobs over `--clients` (1,000) clients, a year of history. Client
   `client-0000` has 1,000 jobs in both, and both hold the same work for the loops: 100
   running jobs (of other clients) and a day's outbox, webhook and idempotency rows.
2. Records the SQL of the job list and of every background loop as the real code runs it
   (`bench/_queries.py`, on a copy of the reference), prints each statement's plan on the
   large database (a bare `SCAN` of a table is flagged) and times each on both.
3. Starts the system (`deploy.run_local`, as `bench/poll.py` does) on each database and
   measures `GET /api/v2/jobs` one request at a time: first, with nothing cached, ten pages
   of 100 each read once (every job read from the database: as `client-0000` from its
   newest, as an admin from halfway down); then `--requests` per query as `client-0000`
   with each filter and on page 50 through the cursors, and as an admin too (after the
   first request a page's jobs are cached: the list caches what it reads).
4. Polls `--cached` (100,000) distinct jobs so the gateway's cache holds them, reads the
   gateway's RSS, then runs wrk on random ones of them (`bench/poll.py`'s script and
   command), against the reference's 1,000.
5. Starts the large system once more with the default `POLL_CACHE_MAX_BYTES`, polls the same
   jobs, and reads the RSS again: the bound the cache keeps.

Prints each figure beside its target and its reference. Figures, not a pass/fail test.
About 6 minutes on 2 cores at the default size (2 of them building the 9.3 GB database);
`--rows 100000` takes about 4 (`--cached 10000`: 1.5).

Example::

    .venv/bin/python bench/scale.py
    .venv/bin/python bench/scale.py --rows 100000 --keep-data
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from _dataset import build
from _proc import listening_pid, rss_bytes
from _queries import CLIENT, Statement, capture, full_scans, full_sorts, plan
from _system import add_system_arguments, check_system_arguments, percentile, running_system
from poll import WrkResult, bounded, lua_script, run_wrk

from services.gateway.http.auth import issue_token
from shared.cursor import encode_cursor
from shared.db import Database
from shared.settings import Settings

TARGET_LIST_P99_MS = 20.0
TARGET_POLL_RATIO = 0.9
# A loop query may cost a few more B-tree levels at 1,000x the rows, not 1,000x the time.
TARGET_QUERY_GROWTH = 3.0
# The steps of `_queries.capture` held to it: the loops' own work is the same in both
# databases. The list's pages and the asset check differ in what they return.
LOOPS = ("admission", "outbox", "webhooks", "idempotency", "dead letters", "reaper")
# The gateway container's memory limit (deploy/k8s/base/gateway.yaml).
TARGET_RSS_MIB = 512
REFERENCE_ROWS = 1000
LIVE = 100
PAGE = 20
DEEP_PAGE = 50
# Pages of 100 timed the first time they are read (nothing of theirs cached).
COLD_PAGES = 10
# STUCK_JOB_TIMEOUT_S for the systems: the history's running jobs would otherwise be re-sent
# to the workers (real renders) once the run is older than the default 15 minutes.
QUIET_REAPER_S = "86400"
# Room for 100,000 jobs and more, in the run that must hold them all.
UNBOUNDED_CACHE_BYTES = str(4 << 30)
WARM_CONCURRENCY = 32
MIB = 1 << 20
HIT = re.compile(r'^reelsmith_poll_cache_requests_total\{result="(hit|miss)"\} ([\d.e+]+)$', re.M)


@dataclass
class Sizes:
    rows: int
    clients: int
    cached: int


@dataclass
class Run:
    """What one system measured."""

    name: str
    cached: int
    lists: dict[str, list[float]] = field(default_factory=dict)
    warm_s: float = 0.0
    rss_before: int = 0
    rss_after: int = 0
    poll: WrkResult | None = None
    misses_while_polling: int = -1
    oldest_hits: tuple[int, int] = (0, 0)


# --------------------------------------------------------------------------- databases


async def databases(work: Path, sizes: Sizes) -> tuple[Path, Path]:
    reference, large = work / "reference" / "app.db", work / "large" / "app.db"
    for path in (reference, large):
        path.parent.mkdir()
    # The same running jobs and the same day's activity in both: the loops' work.
    daily = max(1, sizes.rows // 365)
    stats = await build(reference, REFERENCE_ROWS, clients=1, live=LIVE, daily=daily)
    print(f"bench: reference database: {stats.rows} jobs in {stats.seconds:.1f} s", flush=True)
    print(f"bench: building {sizes.rows:,} jobs over {sizes.clients:,} clients ...", flush=True)
    stats = await build(large, sizes.rows, sizes.clients, live=LIVE, daily=daily)
    print(
        f"bench: large database: {stats.rows:,} jobs in {stats.seconds:.0f} s,"
        f" {stats.bytes / 1e9:.1f} GB; {stats.table_rows}",
        flush=True,
    )
    return reference, large


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class Timed:
    statement: Statement
    lines: list[str]
    reference_ms: float
    large_ms: float


async def plans(work: Path, reference: Path, large: Path) -> list[Timed]:
    """The statements of the list and the loops, planned on the large database and timed on
    both (writes rolled back)."""
    copy = work / "capture.db"
    shutil.copy(reference, copy)
    db = await Database.open(copy)
    # The reaper and the dead letters log a warning for each job they act on.
    logging.disable(logging.WARNING)
    try:
        statements = await capture(db)
    finally:
        logging.disable(logging.NOTSET)
        await db.close()
    distinct = list({(s.step, s.sql): s for s in statements}.values())
    with sqlite3.connect(reference) as small, sqlite3.connect(large) as big:
        return [Timed(s, plan(big, s), best_ms(small, s), best_ms(big, s)) for s in distinct]


def best_ms(conn: sqlite3.Connection, statement: Statement, runs: int = 7) -> float:
    """The fastest of `runs` (after one uncounted): the statement's own cost, with as little
    as can be of whatever else the machine was doing."""
    times = []
    for _ in range(runs + 1):
        conn.execute("BEGIN")
        started = time.perf_counter()
        conn.execute(statement.sql, statement.params).fetchall()
        times.append((time.perf_counter() - started) * 1000)
        conn.execute("ROLLBACK")
    return min(times[1:])


# --------------------------------------------------------------------------- HTTP


class Gateway:
    """A started system: its URL, a client's and an admin's session, its process."""

    def __init__(self, url: str, secret: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session
        self.client = {"Authorization": f"Bearer {issue_token(secret, CLIENT, ttl_s=14_400)}"}
        admin = issue_token(secret, "bench-admin", role="admin", ttl_s=14_400)
        self.admin = {"Authorization": f"Bearer {admin}"}
        port = int(url.rsplit(":", 1)[1])
        self.pid = listening_pid(port)

    async def get(self, path: str, headers: dict[str, str]) -> bytes:
        async with self.session.get(self.url + path, headers=headers) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path} answered {response.status}: {body[:200]!r}")
            return body

    async def cache_counts(self) -> dict[str, float]:
        async with self.session.get(self.url + "/metrics") as response:
            text = await response.text()
        return {kind: float(value) for kind, value in HIT.findall(text)}


@asynccontextmanager
async def started(
    args: argparse.Namespace, data: Path, secret: str, cache_bytes: str | None
) -> AsyncIterator[Gateway]:
    env = {
        "REELSMITH_DATA_DIR": str(data),
        "JWT_SECRET": secret,
        "STUCK_JOB_TIMEOUT_S": QUIET_REAPER_S,
    }
    if cache_bytes is not None:
        env["POLL_CACHE_MAX_BYTES"] = cache_bytes
    async with (
        running_system(args, extra_env=env) as system,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
    ):
        yield Gateway(system.url, secret, session)


def list_queries(db: Path, rows: int) -> dict[str, tuple[str, str]]:
    """Each list query: (who, path). The campaign is one of the client's; the admin's deep
    page starts halfway down the whole history, with a cursor made as the API makes them."""
    with sqlite3.connect(db) as conn:
        (campaign,) = conn.execute(
            "SELECT campaign_id FROM generated_videos WHERE client_id = ? LIMIT 1", (CLIENT,)
        ).fetchone()
        middle = conn.execute(
            "SELECT created_at, id FROM generated_videos ORDER BY created_at DESC, id DESC"
            " LIMIT 1 OFFSET ?",
            (rows // 2,),
        ).fetchone()
    jobs = f"/api/v2/jobs?limit={PAGE}"
    return {
        "client": ("client", jobs),
        "client, status=completed": ("client", f"{jobs}&status=completed"),
        "client, status=failed": ("client", f"{jobs}&status=failed"),
        "client, campaign": ("client", f"{jobs}&campaign_id={campaign}"),
        "client, status + campaign": ("client", f"{jobs}&status=completed&campaign_id={campaign}"),
        f"client, page {DEEP_PAGE}": ("client", ""),  # its cursor is followed at run time
        "client, limit=100": ("client", "/api/v2/jobs?limit=100"),
        "admin": ("admin", jobs),
        "admin, status=completed": ("admin", f"{jobs}&status=completed"),
        "admin, campaign": ("admin", f"{jobs}&campaign_id={campaign}"),
        "admin, cursor halfway down": ("admin", f"{jobs}&cursor={encode_cursor(*middle)}"),
    }


async def deep_page(gateway: Gateway) -> str:
    """The URL of the client's page `DEEP_PAGE`, through the `next_cursor` of each page."""
    path = f"/api/v2/jobs?limit={PAGE}"
    for _ in range(DEEP_PAGE - 1):
        page = orjson.loads(await gateway.get(path, gateway.client))
        if not page["next_cursor"]:
            raise RuntimeError(f"{CLIENT} has fewer than {DEEP_PAGE} pages")
        path = f"/api/v2/jobs?limit={PAGE}&cursor={page['next_cursor']}"
    return path


async def first_reads(
    gateway: Gateway, headers: dict[str, str], path: str, limit: int, pages: int
) -> list[float]:
    """`pages` pages of `limit` from `path` on, each timed the one time it is read: none of
    its jobs cached yet, so every job is read from the database and serialised (a list
    caches what it reads, so the same page read again costs what a repeat costs)."""
    times = []
    path += f"{'&' if '?' in path else '?'}limit={limit}"
    for _ in range(pages):
        started = time.perf_counter()
        page = orjson.loads(await gateway.get(path, headers))
        times.append((time.perf_counter() - started) * 1000)
        if not page["next_cursor"]:
            break
        path = f"/api/v2/jobs?limit={limit}&cursor={page['next_cursor']}"
    return sorted(times)


async def measure_lists(
    gateway: Gateway, queries: dict[str, tuple[str, str]], requests: int
) -> dict[str, list[float]]:
    # The process's first list (one job, uncounted), then pages read once each while
    # none of their jobs is cached: the client's whole history in pages of PAGE, and pages
    # of 100 from halfway down the whole table.
    await gateway.get("/api/v2/jobs?limit=1&status=failed", gateway.admin)
    halfway = queries["admin, cursor halfway down"][1].replace(f"?limit={PAGE}&", "?")
    found = {
        f"client, {DEEP_PAGE} pages, first reads": await first_reads(
            gateway, gateway.client, "/api/v2/jobs", PAGE, DEEP_PAGE
        ),
        "admin, limit=100 halfway, first": await first_reads(
            gateway, gateway.admin, halfway, 100, COLD_PAGES
        ),
    }
    for name, (who, path) in queries.items():
        path = path or await deep_page(gateway)
        headers = gateway.client if who == "client" else gateway.admin
        await gateway.get(path, headers)  # warm-up, uncounted
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            await gateway.get(path, headers)
            times.append((time.perf_counter() - started) * 1000)
        found[name] = sorted(times)
    return found


async def warm(gateway: Gateway, job_ids: list[str]) -> float:
    """Poll each job once (as the admin), so the cache holds them; seconds taken."""

    async def poll(job_id: str) -> str:
        await gateway.get(f"/api/v2/jobs/{job_id}", gateway.admin)
        return job_id

    started = time.monotonic()
    await bounded(WARM_CONCURRENCY, [functools.partial(poll, job_id) for job_id in job_ids])
    return time.monotonic() - started


def newest_ids(db: Path, count: int) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT id FROM generated_videos ORDER BY created_at DESC LIMIT ?", (count,)
        )
        return [row[0] for row in rows]


async def wrk_polls(args: argparse.Namespace, gateway: Gateway, job_ids: list[str]) -> WrkResult:
    """The best of `--poll-runs` wrk runs (other work on the machine only ever slows one)."""
    folder = Path(tempfile.mkdtemp(prefix="reelsmith-scale-wrk-"))
    script = folder / "poll.lua"
    results = []
    try:
        token = gateway.admin["Authorization"].split()[1]
        await asyncio.to_thread(script.write_text, lua_script(job_ids, token))
        for _ in range(args.poll_runs):
            result, output = await run_wrk(args, script, gateway.url)
            results.append(result)
            if args.show_wrk:
                print(output)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return max(results, key=lambda r: r.requests_per_s)


# --------------------------------------------------------------------------- the runs


async def measure(
    args: argparse.Namespace,
    name: str,
    db: Path,
    rows: int,
    cached: list[str],
    cache_bytes: str | None,
    lists: bool,
    poll: bool,
) -> Run:
    run = Run(name, len(cached))
    secret = os.urandom(32).hex()
    async with started(args, db.parent, secret, cache_bytes) as gateway:
        print(f"bench: {name}: gateway pid {gateway.pid} on {gateway.url}", flush=True)
        if lists:
            run.lists = await measure_lists(gateway, list_queries(db, rows), args.requests)
        run.rss_before = rss_bytes(gateway.pid)
        run.warm_s = await warm(gateway, cached)
        run.rss_after = rss_bytes(gateway.pid)
        print(f"bench: {name}: {len(cached):,} jobs polled in {run.warm_s:.0f} s", flush=True)
        before = await gateway.cache_counts()
        if poll:
            run.poll = await wrk_polls(args, gateway, cached)
            after = await gateway.cache_counts()
            run.misses_while_polling = int(after["miss"] - before["miss"])
        else:
            # The jobs polled first are the least recently used: gone when the cache is full.
            oldest = cached[: min(1000, len(cached))]
            await warm(gateway, oldest)
            after = await gateway.cache_counts()
            run.oldest_hits = (int(after["hit"] - before["hit"]), len(oldest))
    return run


async def bench(args: argparse.Namespace, sizes: Sizes) -> None:
    begun = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="reelsmith-scale-", dir=args.work_dir))
    try:
        reference, large = await databases(work, sizes)
        timed = await plans(work, reference, large)
        print(f"bench: plans and loop queries after {time.monotonic() - begun:.0f} s", flush=True)
        small_ids = newest_ids(reference, REFERENCE_ROWS)
        large_ids = newest_ids(large, sizes.cached)
        unbounded = UNBOUNDED_CACHE_BYTES
        runs = [
            await measure(
                args, "reference", reference, REFERENCE_ROWS, small_ids, unbounded, True, True
            ),
            await measure(args, "large", large, sizes.rows, large_ids, unbounded, True, True),
            await measure(
                args, "large, default bound", large, sizes.rows, large_ids, None, False, False
            ),
        ]
        report(sizes, args.requests, timed, runs, time.monotonic() - begun)
    finally:
        if args.keep_data:
            print(f"bench: databases kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "meets" if ok else "below"


def report(
    sizes: Sizes, requests: int, timed: list[Timed], runs: list[Run], elapsed_s: float
) -> None:
    reference, large, bounded_run = runs
    print()
    print(
        f"scale benchmark: {sizes.rows:,} jobs over {sizes.clients:,} clients, against"
        f" {REFERENCE_ROWS:,} jobs of one client; {CLIENT} has {sizes.rows // sizes.clients:,}"
        " jobs in both"
    )
    print(f"\n  GET /api/v2/jobs, {requests} requests a query, one at a time (ms; admin deep page:")
    print(f"  {REFERENCE_ROWS // 2:,} and {sizes.rows // 2:,} jobs down)")
    print(f"  {'query':30} {'ref p50':>8} {'ref p99':>8} {'p50':>8} {'p99':>8}  p99 < 20 ms")
    for name, times in large.lists.items():
        ref = reference.lists[name]
        p99 = percentile(times, 99)
        print(
            f"  {name:30} {percentile(ref, 50):8.2f} {percentile(ref, 99):8.2f}"
            f" {percentile(times, 50):8.2f} {p99:8.2f}  {verdict(p99 < TARGET_LIST_P99_MS)}"
        )
    print_plans(timed)
    print("\n  polls: GET /api/v2/jobs/{id} of random cached jobs (bench/poll.py's wrk command)")
    for run in (reference, large):
        assert run.poll is not None
        print(
            f"  {run.name:10} {run.cached:>8,} cached {run.poll.requests_per_s:8.0f} req/s"
            f"  p50 {run.poll.p50_ms:.2f} ms  p99 {run.poll.p99_ms:.2f} ms"
            f"  {run.poll.cpu_us_per_request:.0f} us CPU/req  non-2xx {run.poll.non_2xx}"
            f"  cache misses {run.misses_while_polling}"
        )
    assert reference.poll is not None and large.poll is not None
    ratio = large.poll.requests_per_s / reference.poll.requests_per_s
    print(
        f"  ratio large/reference req/s  {ratio:.2f}"
        f"  (target >= {TARGET_POLL_RATIO}: {verdict(ratio >= TARGET_POLL_RATIO)})"
    )
    if reference.poll.cpu_us_per_request and large.poll.cpu_us_per_request:
        # The gateway's own CPU a request: what other load on the machine barely moves.
        cpu = large.poll.cpu_us_per_request / reference.poll.cpu_us_per_request
        print(f"  ratio large/reference gateway CPU a request  {cpu:.2f}")
    print("\n  gateway RSS (MiB), before and after polling the cached jobs once each")
    for run in runs:
        per_job = (run.rss_after - run.rss_before) / max(1, run.cached)
        print(
            f"  {run.name:22} {run.rss_before / MIB:6.0f} -> {run.rss_after / MIB:6.0f}"
            f"  ({run.cached:,} jobs, {per_job / 1024:.1f} KiB a job)"
        )
    default = Settings.model_fields["poll_cache_max_bytes"].default
    hits, asked = bounded_run.oldest_hits
    rss = bounded_run.rss_after / MIB
    print(
        f"  with the default POLL_CACHE_MAX_BYTES ({default / MIB:.0f} MiB): {rss:.0f} MiB"
        f" (target < {TARGET_RSS_MIB} MiB, the pod's limit: {verdict(rss < TARGET_RSS_MIB)});"
        f" {hits} of the {asked} jobs polled first still cached"
    )
    print(
        f"\n  cpu_count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f},"
        f" run time {elapsed_s / 60:.1f} min"
    )


def print_plans(timed: list[Timed]) -> None:
    print(
        "\n  SQL of the list and the loops, captured from the code; plan on the large database,"
        " best time of 7 (ms) on both"
    )
    print(f"  {'step':34} {'stmts':>5} {'ref ms':>7} {'ms':>7} {'x':>5}  indexes (flags)")
    steps: dict[str, list[Timed]] = {}
    for t in timed:
        steps.setdefault(t.statement.step, []).append(t)
    worst = 0.0
    scans = 0
    for step, items in steps.items():
        slowest = max(items, key=lambda t: t.large_ms)
        growth = slowest.large_ms / max(slowest.reference_ms, 0.005)
        if step.split(":")[0] in LOOPS:
            worst = max(worst, growth)
        indexes = sorted(
            {m for t in items for line in t.lines for m in re.findall(r"INDEX (\w+)", line)}
        )
        flags = [f for t in items for f in full_scans(t.lines) + full_sorts(t.lines)]
        scans += sum(len(full_scans(t.lines)) for t in items)
        flagged = f"  ({'; '.join(sorted(set(flags)))})" if flags else ""
        print(
            f"  {step:34} {len(items):5} {slowest.reference_ms:7.3f} {slowest.large_ms:7.3f}"
            f" {growth:5.1f}  {', '.join(indexes)}{flagged}"
        )
    print(f"  full table scans: {scans} (target 0: {verdict(scans == 0)})")
    ok = worst < TARGET_QUERY_GROWTH
    print(
        f"  slowest statement of the loops and the admission check, large/reference: {worst:.1f}x"
        f" (target < {TARGET_QUERY_GROWTH:.0f}x: {verdict(ok)})"
    )


# --------------------------------------------------------------------------- main


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="jobs (default 1,000,000)")
    parser.add_argument(
        "--clients", type=int, default=None, help="clients (default: 1,000 jobs each)"
    )
    parser.add_argument(
        "--cached", type=int, default=100_000, help="jobs polled into the cache (100,000)"
    )
    parser.add_argument("--requests", type=int, default=200, help="requests per list query")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--connections", type=int, default=50, help="wrk -c (default 50)")
    parser.add_argument("--duration", default="10s", help="wrk -d (default 10s)")
    parser.add_argument("--poll-runs", type=int, default=2, help="wrk runs, best counts (2)")
    parser.add_argument("--show-wrk", action="store_true", help="print wrk's full output")
    parser.add_argument("--work-dir", default=None, help="where the databases go (default /tmp)")
    add_system_arguments(parser)
    args = parser.parse_args()
    check_system_arguments(parser, args)
    if args.url:
        parser.error("scale.py starts its own systems on the databases it builds (no --url)")
    clients = args.clients or max(1, args.rows // 1000)
    if args.rows < REFERENCE_ROWS or min(args.requests, args.cached, args.poll_runs) < 1:
        parser.error(f"--rows must be >= {REFERENCE_ROWS}; --requests, --cached, --poll-runs >= 1")
    sizes = Sizes(rows=args.rows, clients=clients, cached=min(args.cached, args.rows))
    if shutil.which("wrk") is None:
        print("bench: wrk not found (apt-get install -y wrk, or `make bench`)", file=sys.stderr)
        return 1
    try:
        await bench(args, sizes)
    except (RuntimeError, TimeoutError, ValueError, LookupError, aiohttp.ClientError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        sys.exit(130)
