"""Outgoing webhooks' delivery loop. The HTTP side (the signing secret, a job's delivery
log, the check of a brief's `webhook_url`) is `services/gateway/views/webhooks.py`.

Deliveries are rows of `webhook_deliveries`, queued with the state change they announce
(`queue.py`). The dispatcher POSTs each due row, signed with the client's secret
(`signing.py`); a 2xx marks it delivered, anything else (status, timeout,
refused address) schedules the next attempt with a doubling delay until
`WEBHOOK_MAX_ATTEMPTS`. The `webhook-id` is the row's id, the same on every attempt, so a
receiver de-duplicates by it. Order between a job's deliveries is not guaranteed; the
body's `occurred_at` tells which state is newer.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
from prometheus_client import Counter

from services.gateway.webhooks.queue import signing_secrets
from services.gateway.webhooks.signing import signed_headers
from services.gateway.webhooks.targets import PolicyResolver, TargetPolicy, TargetRefused
from shared.backoff import Backoff
from shared.db import NOW_SQL, Database
from shared.logging import get_logger
from shared.pruning import PruneThrottle
from shared.settings import Settings

log = get_logger(__name__)

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


def _timestamp(moment: datetime) -> str:
    """The format of `NOW_SQL`, so stored times compare as strings."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class WebhookDispatcher:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.policy = TargetPolicy.parse(settings.webhook_allowed_hosts)
        self._inflight: dict[str, asyncio.Task[None]] = {}
        # The wait before attempt n + 1: the base, then twice as long each time up to the
        # cap, less up to a quarter at random so retries spread out.
        self.backoff = Backoff(
            settings.webhook_retry_base_s, settings.webhook_retry_cap_s, jitter="quarter"
        )
        self._prune_throttle = PruneThrottle(PRUNE_EVERY_S)
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
                delay = self.backoff.delay_s(attempts)
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
        if not self._prune_throttle.due():
            return
        async with self.db.transaction() as tx:
            await tx.execute(
                "DELETE FROM webhook_deliveries WHERE COALESCE(delivered_at, failed_at) <"
                " strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
                (f"-{KEEP_FINISHED_S} seconds",),
            )
