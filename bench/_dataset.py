"""A gateway `app.db` with a long history, for `bench/scale.py` and the query-plan test.

`build(path, rows, clients)` creates the database through the real migrations
(`migrations/gateway/`), then fills it with plain SQL in one transaction: `rows` jobs spread
evenly over `clients` clients (`client-0000`, `client-0001`, ...) and over the year before
`now`, `live` jobs running now, and what a day's activity leaves in the gateway's other
tables. Row contents are
made by the real code from a dozen varied briefs (the local planner's storyboards, preflight
reports, replicate price quotes, rendered outputs with QC reports and Content Credentials),
so every row reads back as a job and bodies have a job's real size (2-8 KB).

What the history holds:

- `generated_videos`: mostly finished jobs (completed, canceled, failed) and jobs waiting
  for their client (storyboard_ready, approved), created at random times over the year;
  plus `live` jobs running right now (queued, storyboarding, refining, rendering: updated a
  few seconds ago, so none is stuck) of 10 other clients (`client-live-0` ...);
- `stage_requests`: each job's storyboard request, the render of rendered ones and a few
  exports, all finished except those of the live jobs;
- for `daily` new jobs a day (default: a year's `rows` over 365 days): the outbox events of
  the last 26 hours, published (the relay keeps 24 h); the webhook deliveries of the last
  8 days for a third of them, delivered (the dispatcher keeps 7 days) but for a few
  waiting for a retry; their idempotency keys of the last 30 hours (kept 24);
- `webhook_secrets`, one per client.

The live jobs and the day's activity are the work of the background loops; `bench/scale.py`
gives its two databases the same, so that only the history differs.

`processed_events` stays empty: it is only ever written by primary key.

Example::

    stats = asyncio.run(build(Path("/tmp/app.db"), rows=100_000, clients=100, live=100))
    print(stats.rows, stats.seconds, stats.bytes)
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.billing.pricing import quote
from shared.checks.findings import ContentCredentials, Finding, QcReport
from shared.checks.preflight import preflight
from shared.db import Database
from shared.events import (
    ExportRequested,
    RenderRequested,
    SceneRefineRequested,
    StoryboardRequested,
)
from shared.models import (
    PLATFORM_SIZE,
    CostItem,
    GenerationRequest,
    JobStatus,
    Platform,
    Progress,
    VideoOutput,
)
from shared.pricing import load_pricing
from shared.providers.local.planner import plan_storyboard
from shared.settings import Settings

SEED = 20261207
YEAR_S = 365 * 86_400
TEMPLATE_JOB = "0" * 32
EXPORT_ID = "e" * 12
# The history's statuses and their shares (the rest of a year of jobs is final or waits
# for its client); live jobs are added on top.
HISTORY = (
    (JobStatus.completed, 0.58),
    (JobStatus.storyboard_ready, 0.13),
    (JobStatus.canceled, 0.12),
    (JobStatus.failed, 0.10),
    (JobStatus.approved, 0.07),
)
LIVE = (JobStatus.queued, JobStatus.storyboarding, JobStatus.refining, JobStatus.rendering)
# Campaign ids are the clients' own strings, and the common ones recur across clients:
# each client uses 8 of these 40, so one id matches ~1/40 of the table.
CAMPAIGNS = tuple(
    f"{season}-{kind}"
    for season in ("spring", "summer", "autumn", "winter", "holiday")
    for kind in ("launch", "sale", "retarget", "brand", "promo", "ugc", "bundle", "teaser")
)
CAMPAIGNS_PER_CLIENT = 8
LIVE_CLIENTS = 10
PRODUCTS = (
    ("Glow Serum", "Brightens skin in 7 days", "Vegan"),
    ("Trail Runner 3", "Grips wet rock", "30% lighter than v2"),
    ("Cold Brew Kit", "Smooth coffee in 12 hours", "No bitterness"),
    ("Steel Bottle", "Cold for 24 hours", "Lifetime warranty"),
    ("Focus Desk Lamp", "No flicker", "Warm to daylight in one tap"),
    ("Oat Crunch", "12 g protein per bowl", "No added sugar"),
    ("Sleep Mask Pro", "Blocks 100% of light", "Cooling gel inserts"),
    ("City E-Bike", "80 km per charge", "Folds in 10 seconds"),
    ("Pet Cam", "See your dog in HD", "Treat toss from your phone"),
    ("Linen Sheets", "Softer every wash", "Free returns for 100 nights"),
    ("Solar Charger", "Charges a phone in 2 hours", "Waterproof"),
    ("Kids Story App", "New bedtime story every night", "Ad-free"),
)
PLATFORMS = (Platform.tiktok, Platform.instagram_reel, Platform.youtube_short, Platform.youtube)


@dataclass(frozen=True)
class Template:
    """The JSON columns of one brief's job at each point of its life."""

    prompt: str
    request: str
    estimated_cost: float
    cost_items: str
    storyboard: str
    preflight: str
    outputs: str
    # The `stage_requests.data` of each stage: the payload the gateway sent.
    storyboard_requested: str
    refine_requested: str
    render_requested: str
    export_requested: str  # with EXPORT_ID in place of the export's id


@dataclass(frozen=True)
class Stats:
    rows: int
    clients: int
    live: int
    daily: int
    seconds: float
    bytes: int
    table_rows: dict[str, int]


def brief(index: int) -> GenerationRequest:
    product, claim, extra = PRODUCTS[index % len(PRODUCTS)]
    return GenerationRequest.model_validate(
        {
            "campaign_id": CAMPAIGNS[index % len(CAMPAIGNS)],
            "prompt": f"Introducing {product}. {claim}. {extra}.",
            "platform": PLATFORMS[index % len(PLATFORMS)],
            "duration_s": (15, 30, 20)[index % 3],
            "variations": (1, 2, 3)[index % 3],
            "brand": {"colors": ["#0F4C81", "#F5B700", "#FFFFFF"][: 2 + index % 2], "tone": "warm"},
            "product": product,
            "audience": "Busy people, 25-40",
            "key_messages": [claim, extra],
            "call_to_action": f"Get {product}",
            "webhook_url": "https://hooks.example.com/reelsmith" if index % 3 == 0 else None,
        }
    )


def outputs_for(request: GenerationRequest) -> list[VideoOutput]:
    width, height = PLATFORM_SIZE[request.platform]
    base = f"videos/{TEMPLATE_JOB}"
    return [
        VideoOutput(
            variation=variation,
            key=f"{base}/v{variation}.mp4",
            url="",
            poster_key=f"{base}/v{variation}.jpg",
            duration_s=float(request.duration_s),
            width=width,
            height=height,
            size_bytes=request.duration_s * 410_000,
            style=("bold", "clean", "social")[variation - 1],
            hypothesis="Leading with the strongest claim lifts the 3-second view rate.",
            captions_key=f"{base}/v{variation}.vtt",
            contact_sheet_key=f"{base}/v{variation}-sheet.jpg",
            loudness_lufs=-14.1,
            true_peak_dbtp=-1.6,
            qc=QcReport.of(
                [
                    Finding(
                        check="qc.safe_zone",
                        severity="warning",
                        message="The caption of scene 2 touches the platform's bottom UI.",
                        start_s=3.2,
                        end_s=7.0,
                    )
                ],
                {"lufs": -14.1, "true_peak_dbtp": -1.6, "bitrate_kbps": 3280, "codec": "h264"},
                seconds=1.7,
            ),
            credentials=ContentCredentials(
                signed=True,
                digital_source_type="compositeWithTrainedAlgorithmicMedia",
                models=["local/frames", "local/motion"],
                generator="Reelsmith/2",
                label="c2pa.ai-generated",
            ),
        )
        for variation in range(1, request.variations + 1)
    ]


def make_templates(count: int = len(PRODUCTS)) -> list[Template]:
    table = load_pricing(Path(__file__).resolve().parent.parent / "shared" / "pricing.toml")
    templates = []
    for index in range(count):
        request = brief(index)
        storyboard = plan_storyboard(TEMPLATE_JOB, request)
        for scene in storyboard.scenes:
            scene.image_key = f"storyboards/{TEMPLATE_JOB}/scene_{scene.index}.jpg"
        estimate = quote(request, "replicate", table)
        outputs = outputs_for(request)
        items = [CostItem(**item.model_dump(exclude={"detail"})) for item in estimate.line_items]
        templates.append(
            Template(
                prompt=request.prompt,
                request=request.model_dump_json(),
                estimated_cost=estimate.estimated_cost,
                cost_items="[" + ",".join(item.model_dump_json() for item in items) + "]",
                storyboard=storyboard.model_dump_json(),
                preflight=preflight(request, storyboard).model_dump_json(),
                outputs="[" + ",".join(o.model_dump_json() for o in outputs) + "]",
                storyboard_requested=StoryboardRequested(request=request).model_dump_json(),
                refine_requested=SceneRefineRequested(
                    request=request,
                    storyboard=storyboard,
                    scene_index=2,
                    feedback="Warmer light, and show the product in a hand.",
                ).model_dump_json(),
                render_requested=RenderRequested(
                    request=request, storyboard=storyboard
                ).model_dump_json(),
                export_requested=ExportRequested(
                    export_id=EXPORT_ID, aspect="1:1", source=outputs[0]
                ).model_dump_json(),
            )
        )
    return templates


def stamp(moment: datetime) -> str:
    """The format of `NOW_SQL`, so times compare as strings."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class History:
    """The rows, made one at a time from a seeded generator (the same database every run)."""

    def __init__(self, rows: int, clients: int, live: int, daily: int, now: datetime) -> None:
        self.rows, self.clients, self.live, self.daily, self.now = rows, clients, live, daily, now
        self.random = random.Random(SEED)
        self.templates = make_templates()
        self.stage_rows: list[tuple[str, str, str, str, str, str | None]] = []
        statuses, weights = zip(*HISTORY, strict=True)
        self.statuses = list(statuses)
        self.weights = list(weights)

    def job_id(self) -> str:
        return f"{self.random.getrandbits(128):032x}"

    def client(self, n: int) -> tuple[int, str]:
        """The client of job `n`: the history's are spread over `clients`, the live ones over
        `LIVE_CLIENTS` others."""
        if n >= self.rows:
            index = (n - self.rows) % LIVE_CLIENTS
            return index, f"client-live-{index}"
        index = n % self.clients
        return index, f"client-{index:04d}"

    def campaign(self, client_index: int) -> str:
        pick = self.random.randrange(CAMPAIGNS_PER_CLIENT)
        return CAMPAIGNS[(client_index * 7 + pick) % len(CAMPAIGNS)]

    def chunks(self, size: int = 20_000) -> Iterator[list[tuple[object, ...]]]:
        """The jobs, `size` at a time; `stage_rows` holds the chunk's stage requests."""
        total = self.rows + self.live
        for start in range(0, total, size):
            self.stage_rows = []
            yield [self.job(n, n >= self.rows) for n in range(start, min(start + size, total))]

    def job(self, n: int, live: bool) -> tuple[object, ...]:
        rnd = self.random
        job_id = self.job_id()
        client_index, client_id = self.client(n)
        template = self.templates[rnd.randrange(len(self.templates))]
        if live:
            status = LIVE[n % len(LIVE)]
            created = self.now - timedelta(seconds=rnd.uniform(60, 600))
            updated = self.now - timedelta(seconds=rnd.uniform(0, 30))
        else:
            status = rnd.choices(self.statuses, self.weights)[0]
            created = self.now - timedelta(seconds=rnd.uniform(600, YEAR_S))
            updated = created + timedelta(seconds=rnd.uniform(40, 3 * 86_400))
            updated = min(updated, self.now - timedelta(seconds=300))
        has_storyboard = status not in (JobStatus.queued, JobStatus.storyboarding)
        failed_stage = None
        if status == JobStatus.failed:
            failed_stage = "render" if rnd.random() < 0.4 else "storyboard"
            has_storyboard = failed_stage == "render"
        if status == JobStatus.canceled:
            has_storyboard = rnd.random() < 0.7
        approved = status in (JobStatus.approved, JobStatus.rendering, JobStatus.completed) or (
            failed_stage == "render"
        )
        completed = status == JobStatus.completed
        progress = Progress(
            stage=status.value, percent=100.0 if completed else (40.0 if live else 0.0)
        )
        self.stages(job_id, template, created, updated, status, has_storyboard, approved, live)
        created_at, updated_at = stamp(created), stamp(updated)
        return (
            job_id,
            self.campaign(client_index),
            client_id,
            status.value,
            template.prompt,
            template.request,
            created_at,
            progress.model_dump_json(),
            f"/api/v2/jobs/{job_id}/video" if completed else None,
            template.storyboard if has_storyboard else None,
            int(approved),
            updated_at if approved else None,
            template.estimated_cost,
            round(template.estimated_cost * rnd.uniform(0.85, 1.05), 4) if completed else None,
            0,
            "the storyboard stalled: no progress for 15 min" if failed_stage else None,
            updated_at,
            1,
            template.outputs if completed else "[]",
            template.cost_items,
            failed_stage,
            template.preflight if has_storyboard else None,
        )

    def stages(
        self,
        job_id: str,
        template: Template,
        created: datetime,
        updated: datetime,
        status: JobStatus,
        has_storyboard: bool,
        approved: bool,
        live: bool,
    ) -> None:
        finished = None if live else stamp(updated)
        storyboard_open = live and status in (JobStatus.queued, JobStatus.storyboarding)
        self.stage_rows.append(
            (
                job_id,
                "storyboard",
                "jobs.storyboard.requested",
                template.storyboard_requested,
                stamp(created),
                None if storyboard_open else stamp(updated),
            )
        )
        if status == JobStatus.refining:
            self.stage_rows.append(
                (
                    job_id,
                    "refine",
                    "jobs.scene.refine_requested",
                    template.refine_requested,
                    stamp(updated),
                    None,
                )
            )
        if approved and has_storyboard:
            render_open = status == JobStatus.rendering
            requested = stamp(updated - timedelta(seconds=90))
            self.stage_rows.append(
                (
                    job_id,
                    "render",
                    "jobs.render.requested",
                    template.render_requested,
                    requested,
                    None if render_open else finished,
                )
            )
        if status == JobStatus.completed and self.random.random() < 0.05:
            export_id = f"{self.random.getrandbits(48):012x}"
            self.stage_rows.append(
                (
                    job_id,
                    f"export:{export_id}",
                    "jobs.export.requested",
                    template.export_requested.replace(EXPORT_ID, export_id),
                    stamp(updated),
                    stamp(updated + timedelta(seconds=40)),
                )
            )


JOB_COLUMNS = (
    "id, campaign_id, client_id, status, prompt, request_json, created_at, progress, video_url,"
    " storyboard_data, approved, approved_at, estimated_cost, actual_cost, retry_count,"
    " error_message, updated_at, attempt, outputs, cost_items, failed_stage, preflight"
)


def fill(path: Path, rows: int, clients: int, live: int, daily: int, now: datetime) -> Stats:
    """Insert the history into the migrated database at `path` (one transaction)."""
    if min(rows, clients, daily) < 1 or live < 0:
        raise ValueError("need rows, clients and daily >= 1, live >= 0")
    started = time.monotonic()
    history = History(rows, clients, live, daily, now)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # A bulk load: no WAL copy of every page, the indexes' pages kept in memory.
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1000000")
        conn.execute("BEGIN")
        marks = ", ".join("?" for _ in JOB_COLUMNS.split(","))
        for jobs in history.chunks():
            conn.executemany(f"INSERT INTO generated_videos ({JOB_COLUMNS}) VALUES ({marks})", jobs)
            conn.executemany(
                "INSERT INTO stage_requests (job_id, stage, subject, data, requested_at,"
                " finished_at) VALUES (?, ?, ?, ?, ?, ?)",
                history.stage_rows,
            )
        fill_side_tables(conn, history)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "generated_videos",
                "stage_requests",
                "outbox",
                "webhook_deliveries",
                "webhook_secrets",
                "idempotency_keys",
            )
        }
    finally:
        conn.close()
    return Stats(
        rows=rows,
        clients=clients,
        live=live,
        daily=daily,
        seconds=time.monotonic() - started,
        bytes=path.stat().st_size,
        table_rows=counts,
    )


def fill_side_tables(conn: sqlite3.Connection, history: History) -> None:
    rnd, now, daily = history.random, history.now, history.daily
    # ~4 events a job: the last 26 hours' worth.
    events = max(20, daily * 4 * 26 // 24)
    conn.executemany(
        "INSERT INTO outbox (id, subject, headers, payload, created_at, published_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            (
                history.job_id(),
                "jobs.storyboard.requested",
                '{"Nats-Msg-Id":"x","traceparent":"00-0-0-01"}',
                history.templates[i % len(history.templates)].request.encode(),
                stamp(at := now - timedelta(seconds=rnd.uniform(1, 26 * 3600))),
                stamp(at + timedelta(milliseconds=5)),
            )
            for i in range(events)
        ),
    )
    conn.executemany(
        "INSERT INTO webhook_deliveries (id, job_id, client_id, url, type, payload, attempts,"
        " next_attempt_at, last_status, created_at, delivered_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        deliveries(history, max(10, daily * 8 // 3)),
    )
    conn.executemany(
        "INSERT INTO webhook_secrets (client_id, key) VALUES (?, ?)",
        ((history.client(n)[1], f"whsec_{n:040x}") for n in range(history.clients)),
    )
    keys = max(10, daily * 30 // 24)
    conn.executemany(
        "INSERT INTO idempotency_keys (client_id, key, method, path, fingerprint, state, status,"
        " created_at, expires_at) VALUES (?, ?, 'POST', '/api/v2/jobs', 'f', 'done', 202, ?, ?)",
        (
            (
                history.client(i)[1],
                f"key-{i}",
                stamp(at := now - timedelta(seconds=rnd.uniform(0, 30 * 3600))),
                stamp(at + timedelta(days=1)),
            )
            for i in range(keys)
        ),
    )


def deliveries(history: History, count: int) -> Iterator[tuple[object, ...]]:
    """Webhook deliveries of the last 8 days: delivered at the first attempt, but one in 50
    that failed once and waits for its retry in 5 minutes."""
    for n in range(count):
        created = history.now - timedelta(seconds=history.random.uniform(60, 8 * 86_400))
        waiting = n % 50 == 0
        yield (
            f"msg_{history.job_id()}",
            history.job_id(),
            history.client(n)[1],
            "https://hooks.example.com/reelsmith",
            "job.completed",
            b'{"type":"job.completed","data":{}}',
            2 if waiting else 1,
            stamp(history.now + timedelta(minutes=5) if waiting else created),
            503 if waiting else 200,
            stamp(created),
            None if waiting else stamp(created + timedelta(milliseconds=120)),
        )


async def build(
    path: Path,
    rows: int,
    clients: int,
    live: int = 100,
    daily: int | None = None,
    now: datetime | None = None,
) -> Stats:
    """A fresh `app.db` at `path`: the gateway's migrations, then the history."""
    if await asyncio.to_thread(path.exists):
        raise FileExistsError(path)
    db = await Database.open(path)
    try:
        await db.migrate(Settings().migrations_path / "gateway")
    finally:
        await db.close()
    daily = daily or max(1, rows // 365)
    return await asyncio.to_thread(fill, path, rows, clients, live, daily, now or datetime.now(UTC))
