"""Outgoing webhooks: the delivery worker, the secret endpoints, and the check that a
job's `webhook_url` may be reached.

Deliveries are rows of `webhook_deliveries`, queued with the state change they announce
(`webhook_queue.py`). The dispatcher POSTs each due row, signed with the client's secret
(`webhook_signing.py`); a 2xx marks it delivered, anything else (status, timeout,
refused address) schedules the next attempt with a doubling delay until
`WEBHOOK_MAX_ATTEMPTS`. The `webhook-id` is the row's id, the same on every attempt, so a
receiver de-duplicates by it. Order between a job's deliveries is not guaranteed; the
body's `occurred_at` tells which state is newer.
"""

from __future__ import annotations

import asyncio
import functools
import random
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from prometheus_client import Counter
from pydantic import BaseModel

from services.gateway.appkeys import DB, SETTINGS
from services.gateway.contract.operations import ERROR, operation
from services.gateway.http.bodies import model_response
from services.gateway.http.errors import NotFound, Unprocessable
from services.gateway.http.middlewares import principal_of
from services.gateway.webhooks.queue import (
    WebhookSecret,
    client_secret,
    rotate_secret,
    signing_secrets,
)
from services.gateway.webhooks.signing import signed_headers
from services.gateway.webhooks.targets import PolicyResolver, TargetPolicy, TargetRefused
from shared.db import NOW_SQL, Database
from shared.logging import get_logger
from shared.models import GenerationRequest
from shared.settings import Settings
from shared.tasks import stop_task

log = get_logger(__name__)

API = "/api/v2"
CONCURRENCY = 16
IDLE_WAIT_S = 0.5
KEEP_FINISHED_S = 7 * 86_400
PRUNE_EVERY_S = 600.0
USER_AGENT = "Reelsmith-Webhooks/1"

DELIVERIES = Counter(
    "reelsmith_webhook_deliveries_total",
    "Outgoing webhook attempts by outcome (delivered, retried, gave_up)",
    ["outcome"],
)


class WebhookUrlRefused(Unprocessable):
    code = "webhook_url_not_allowed"


def retry_delay_s(attempts: int, base_s: float, cap_s: float, jitter: float) -> float:
    """The wait before attempt `attempts + 1`: the base, then twice as long each time up to
    the cap, less up to a quarter at random (`jitter` in [0, 1)) so retries spread out."""
    delay: float = min(cap_s, base_s * 2.0 ** max(0, attempts - 1))
    return delay * (1 - 0.25 * jitter)


def _timestamp(moment: datetime) -> str:
    """The format of `NOW_SQL`, so stored times compare as strings."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class WebhookDispatcher:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.policy = TargetPolicy.parse(settings.webhook_allowed_hosts)
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._pruned_at = 0.0
        self.delivered = 0

    async def run(self, stop: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(
            resolver=PolicyResolver(self.policy), use_dns_cache=False, limit=CONCURRENCY
        )
        timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            try:
                while not stop.is_set():
                    wait_s = IDLE_WAIT_S
                    try:
                        await self._start_due(session)
                        await self._prune()
                        if len(self._inflight) < CONCURRENCY:  # else a finished one wakes us
                            wait_s = min(wait_s, await self._until_next_due())
                    except (sqlite3.Error, ValueError) as exc:
                        log.warning("webhook.dispatch_failed", extra={"error": repr(exc)})
                    await self._idle(stop, wait_s)
            finally:
                # Unfinished attempts stay queued unchanged and run again after a restart.
                for task in self._inflight.values():
                    task.cancel()
                await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    async def _until_next_due(self) -> float:
        """Seconds until the earliest retry not yet started (a retry sooner than the idle
        poll is not kept waiting for it)."""
        # Rows being attempted right now are due already; they must not make the loop spin.
        busy = list(self._inflight)
        row = await self.db.fetchone(
            "SELECT MIN(next_attempt_at) AS due FROM webhook_deliveries"
            " WHERE delivered_at IS NULL AND failed_at IS NULL"
            f" AND id NOT IN ({','.join('?' * len(busy))})",
            busy,
        )
        if row is None or row["due"] is None:
            return IDLE_WAIT_S
        due = datetime.fromisoformat(row["due"])
        return max(0.01, (due - datetime.now(UTC)).total_seconds())

    async def _idle(self, stop: asyncio.Event, wait_s: float) -> None:
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait(
                [stopping, *self._inflight.values()],
                timeout=wait_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stopping.cancel()

    async def _start_due(self, session: aiohttp.ClientSession) -> None:
        free = CONCURRENCY - len(self._inflight)
        if free <= 0:
            return
        rows = await self.db.fetchall(
            "SELECT id, job_id, client_id, url, type, payload, attempts FROM webhook_deliveries"
            f" WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= {NOW_SQL}"
            " ORDER BY next_attempt_at LIMIT ?",
            (CONCURRENCY,),
        )
        for row in rows:
            if free == 0:
                break
            if row["id"] in self._inflight:
                continue
            free -= 1
            task = asyncio.create_task(self._attempt(session, row))
            self._inflight[row["id"]] = task
            task.add_done_callback(functools.partial(self._forget, row["id"]))

    def _forget(self, delivery_id: str, _: asyncio.Task[None]) -> None:
        self._inflight.pop(delivery_id, None)

    async def _attempt(self, session: aiohttp.ClientSession, row: sqlite3.Row) -> None:
        status: int | None = None
        error: str | None = None
        try:
            self.policy.check_literal(row["url"])
            keys = await signing_secrets(self.db, row["client_id"])
            headers = signed_headers(keys, row["id"], int(time.time()), row["payload"])
            headers |= {"Content-Type": "application/json", "User-Agent": USER_AGENT}
            async with session.post(
                row["url"], data=row["payload"], headers=headers, allow_redirects=False
            ) as response:
                status = response.status
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except TargetRefused as exc:
            error = str(exc)
        except TimeoutError:
            error = f"no answer within {self.settings.webhook_timeout_s:g} s"
        except aiohttp.ClientError as exc:
            error = str(exc) or exc.__class__.__name__
        except Exception as exc:
            # Counted as a failed attempt, so a row that cannot be sent is not retried forever.
            log.exception("webhook.attempt_crashed", extra={"delivery_id": row["id"]})
            error = f"internal error ({exc.__class__.__name__})"
        await self._record(row, status, error)

    async def _record(self, row: sqlite3.Row, status: int | None, error: str | None) -> None:
        attempts = row["attempts"] + 1
        context = {
            "job_id": row["job_id"],
            "delivery_id": row["id"],
            "webhook_type": row["type"],
            "host": urlsplit(row["url"]).hostname,
            "attempt": attempts,
            "status": status,
        }
        async with self.db.transaction() as tx:
            if error is None:
                await tx.execute(
                    f"UPDATE webhook_deliveries SET attempts = ?, last_status = ?,"
                    f" last_error = NULL, delivered_at = {NOW_SQL} WHERE id = ?",
                    (attempts, status, row["id"]),
                )
            elif attempts >= self.settings.webhook_max_attempts:
                await tx.execute(
                    "UPDATE webhook_deliveries SET attempts = ?, last_status = ?,"
                    f" last_error = ?, failed_at = {NOW_SQL} WHERE id = ?",
                    (attempts, status, error, row["id"]),
                )
            else:
                delay = retry_delay_s(
                    attempts,
                    self.settings.webhook_retry_base_s,
                    self.settings.webhook_retry_cap_s,
                    random.random(),
                )
                due = _timestamp(datetime.now(UTC) + timedelta(seconds=delay))
                await tx.execute(
                    "UPDATE webhook_deliveries SET attempts = ?, last_status = ?,"
                    " last_error = ?, next_attempt_at = ? WHERE id = ?",
                    (attempts, status, error, due, row["id"]),
                )
        if error is None:
            self.delivered += 1
            DELIVERIES.labels("delivered").inc()
            log.info("webhook.delivered", extra=context)
        elif attempts >= self.settings.webhook_max_attempts:
            DELIVERIES.labels("gave_up").inc()
            log.error("webhook.gave_up", extra={**context, "error": error})
        else:
            DELIVERIES.labels("retried").inc()
            log.warning("webhook.retry_scheduled", extra={**context, "error": error})

    async def _prune(self) -> None:
        now = time.monotonic()
        if now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM webhook_deliveries WHERE COALESCE(delivered_at, failed_at) <"
                " strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
                (f"-{KEEP_FINISHED_S} seconds",),
            )


WEBHOOKS = web.AppKey("webhooks", WebhookDispatcher)


async def check_webhook_url(request: web.Request, generation: GenerationRequest) -> None:
    """Refuse (422 `webhook_url_not_allowed`) a brief whose webhook may not be reached."""
    if generation.webhook_url is None:
        return
    policy = TargetPolicy.parse(request.app[SETTINGS].webhook_allowed_hosts)
    try:
        await policy.check_url(generation.webhook_url)
    except TargetRefused as exc:
        detail = {"field": "webhook_url", "message": str(exc), "type": WebhookUrlRefused.code}
        raise WebhookUrlRefused(f"webhook_url refused: {exc}", [detail]) from None


# --------------------------------------------------------------------------- views


class WebhookDelivery(BaseModel):
    id: str
    type: str
    attempts: int
    last_status: int | None = None
    last_error: str | None = None
    created_at: datetime
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None


class WebhookDeliveryList(BaseModel):
    items: list[WebhookDelivery]


@operation(
    summary="Get the webhook signing secret",
    tags=("webhooks",),
    responses={200: WebhookSecret},
    description="The caller's Standard-Webhooks secret (`whsec_` + base64), made on first"
    " use. Every webhook carries `webhook-id`, `webhook-timestamp` and `webhook-signature`"
    ' (`v1,` + base64 HMAC-SHA256 of `"{id}.{timestamp}.{body}"` with the decoded key).',
)
async def get_secret(request: web.Request) -> web.Response:
    return model_response(await client_secret(request.app[DB], principal_of(request).client_id))


@operation(
    summary="Rotate the webhook signing secret",
    tags=("webhooks",),
    responses={200: WebhookSecret},
    description="A new secret from now on; for 24 h deliveries also carry a signature made"
    " with the previous one, so receivers can switch without losing a webhook.",
)
async def rotate(request: web.Request) -> web.Response:
    return model_response(await rotate_secret(request.app[DB], principal_of(request).client_id))


@operation(
    summary="List a job's webhook deliveries",
    tags=("webhooks",),
    responses={200: WebhookDeliveryList, 404: ERROR},
    description="Each state change sent to the job's `webhook_url`: attempts, the last"
    " status or error, when it was delivered or given up.",
)
async def job_deliveries(request: web.Request) -> web.Response:
    job_id = request.match_info["job_id"]
    principal = principal_of(request)
    db: Database = request.app[DB]
    owner = await db.fetchone("SELECT client_id FROM generated_videos WHERE id = ?", (job_id,))
    if owner is None or (owner["client_id"] != principal.client_id and not principal.is_admin):
        raise NotFound(f"job {job_id} not found")
    rows = await db.fetchall(
        "SELECT id, type, attempts, last_status, last_error, created_at, delivered_at,"
        " failed_at, CASE WHEN delivered_at IS NULL AND failed_at IS NULL"
        " THEN next_attempt_at END AS next_attempt_at"
        " FROM webhook_deliveries WHERE job_id = ? ORDER BY created_at, rowid",
        (job_id,),
    )
    items = [WebhookDelivery.model_validate(dict(row)) for row in rows]
    return model_response(WebhookDeliveryList(items=items))


async def _dispatcher(app: web.Application) -> AsyncIterator[None]:
    """Runs after the database context (and stops before it closes)."""
    dispatcher = WebhookDispatcher(app[DB], app[SETTINGS])
    app[WEBHOOKS] = dispatcher
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop), name="webhook-dispatcher")
    yield
    stop.set()
    await stop_task(task, timeout_s=15)


def add_webhook_routes(app: web.Application) -> None:
    """The webhook endpoints and the delivery worker (call after the database context)."""
    app.router.add_get(f"{API}/webhooks/secret", get_secret)
    app.router.add_post(f"{API}/webhooks/secret/rotate", rotate)
    app.router.add_get(API + "/jobs/{job_id}/webhooks", job_deliveries)
    app.cleanup_ctx.append(_dispatcher)
