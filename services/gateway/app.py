"""The gateway application factory: `init_app(settings)` builds the real app, with
database, bus, outbox relay and projection consumer as cleanup contexts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from services.gateway.appkeys import BUS, CACHE, DB, RELAY, SETTINGS, STORAGE, STORE
from services.gateway.console.views import add_console_routes
from services.gateway.contract.views import add_contract_routes
from services.gateway.handlers import billing_handlers, projection_handlers
from services.gateway.http.admission import admission_middleware
from services.gateway.http.auth import TokenVerifier
from services.gateway.http.idempotency import idempotency_middleware, idempotency_pruning
from services.gateway.http.middlewares import api_middleware
from services.gateway.jobs.cache import JobCache
from services.gateway.jobs.commands import JobStore
from services.gateway.jobs.deadletters import dead_letters_context
from services.gateway.jobs.outbox import OutboxRelay
from services.gateway.jobs.projection import Projection
from services.gateway.jobs.reaper import reaper_context
from services.gateway.routes import add_routes
from services.gateway.webhooks.dispatcher import add_webhook_routes
from services.gateway.webhooks.replicate import add_replicate_webhooks
from shared.billing import JobCostUpdated
from shared.bus import Bus, ConsumerSpec
from shared.db import Database
from shared.events import (
    RenderCompleted,
    RenderFailed,
    RenderProgressed,
    StoryboardCompleted,
    StoryboardFailed,
    StoryboardProgressed,
)
from shared.logging import get_logger
from shared.service import shutdown_budget
from shared.settings import Settings
from shared.storage import LocalStorage
from shared.tasks import stop_task

log = get_logger(__name__)

MAX_JSON_BODY = 1024 * 1024
PROJECTED = (
    StoryboardProgressed,
    StoryboardCompleted,
    StoryboardFailed,
    RenderProgressed,
    RenderCompleted,
    RenderFailed,
)
PROJECTION_CONCURRENCY = 16


def billing_spec(settings: Settings) -> ConsumerSpec:
    return ConsumerSpec(
        durable="gateway-billing",
        stream="BILLING",
        subjects=(JobCostUpdated.subject,),
        ack_wait_s=settings.consumer_ack_wait_s,
        max_deliver=settings.consumer_max_deliver,
    )


def projection_spec(settings: Settings) -> ConsumerSpec:
    return ConsumerSpec(
        durable="gateway",
        stream="JOBS",
        subjects=tuple(payload.subject for payload in PROJECTED),
        ack_wait_s=settings.consumer_ack_wait_s,
        max_deliver=settings.consumer_max_deliver,
    )


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = await Database.open(settings.database_path)
    await db.migrate(settings.migrations_path)
    app[DB] = db
    yield
    await db.close()


async def _bus(app: web.Application) -> AsyncIterator[None]:
    bus = await Bus.connect(app[SETTINGS].nats_url, service="gateway")
    bus.hand_back_s, drain_s = shutdown_budget(app[SETTINGS].shutdown_grace_s)
    await bus.ensure_streams()
    app[BUS] = bus
    yield
    await bus.close(timeout_s=drain_s)


async def _workers(app: web.Application) -> AsyncIterator[None]:
    """The outbox relay and the projection consumer, stopped before the bus drains."""
    stop = asyncio.Event()
    relay = OutboxRelay(app[DB], app[BUS])
    store = JobStore(app[DB], on_outbox=relay.wake)
    app[RELAY], app[STORE] = relay, store
    projection = Projection(app[DB])
    handlers = projection_handlers(projection, app[CACHE], app[SETTINGS].generation_backend)
    tasks = [
        asyncio.create_task(relay.run(stop), name="outbox-relay"),
        asyncio.create_task(
            app[BUS].consume(
                projection_spec(app[SETTINGS]),
                handlers,
                stop,
                concurrency=PROJECTION_CONCURRENCY,
            ),
            name="projection",
        ),
        asyncio.create_task(
            app[BUS].consume(
                billing_spec(app[SETTINGS]),
                billing_handlers(projection, app[CACHE]),
                stop,
                concurrency=4,
            ),
            name="billing-projection",
        ),
    ]
    for task in tasks:
        task.add_done_callback(_report_crash)
    yield
    stop.set()
    for task in tasks:
        await stop_task(task, timeout_s=15)


async def _end_streams(app: web.Application) -> None:
    """End SSE streams first: aiohttp waits for open handlers before cleanup."""
    app[CACHE].close_listeners()


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("gateway.task_crashed", extra={"task": task.get_name()}, exc_info=exc)


def init_app(settings: Settings) -> web.Application:
    verifier = TokenVerifier(settings.jwt_secret.get_secret_value())
    # Outermost first: auth and the error shape, then idempotent replays (a replay is
    # neither rate limited nor counted), then back-pressure.
    middlewares = [api_middleware(verifier), idempotency_middleware, admission_middleware(settings)]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_JSON_BODY)
    app[SETTINGS] = settings
    app[CACHE] = JobCache()
    app[STORAGE] = LocalStorage(settings.video_storage_path)
    app.cleanup_ctx.extend([_database, _bus, _workers])
    app.cleanup_ctx.extend([reaper_context, dead_letters_context, idempotency_pruning])
    app.on_shutdown.append(_end_streams)
    add_routes(app)
    add_replicate_webhooks(app)
    add_webhook_routes(app)
    add_contract_routes(app)
    add_console_routes(app)
    return app
