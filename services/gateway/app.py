"""The gateway's wiring: `init_app(settings)` builds the real app — its middlewares, the
resources on it (appkeys.py), the loops that run beside the HTTP server (each started
through `background`), and the route map (routes.py)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

from aiohttp import web

from services.gateway.appkeys import (
    BUS,
    CACHE,
    CONTRACT,
    DB,
    REAPER,
    RELAY,
    SETTINGS,
    STORAGE,
    STORE,
    WEBHOOKS,
)
from services.gateway.background import Loop, background
from services.gateway.console.views import set_up_console
from services.gateway.contract.views import Contract
from services.gateway.handlers import billing_handlers, projection_handlers
from services.gateway.http.admission import job_admission
from services.gateway.http.auth import TokenVerifier
from services.gateway.http.cors import Cors
from services.gateway.http.idempotency import prune_expired_keys
from services.gateway.http.identity import IdentityProvider
from services.gateway.http.middlewares import api_middleware
from services.gateway.http.poll_lane import POLL_LANE, PollLane
from services.gateway.jobs.cache import JobCache
from services.gateway.jobs.commands import JobStore
from services.gateway.jobs.deadletters import DeadLetters, dead_letter_spec
from services.gateway.jobs.outbox import OutboxRelay
from services.gateway.jobs.projection import Projection
from services.gateway.jobs.reaper import Reaper, announcer
from services.gateway.jobs.resume import resume_loop
from services.gateway.metrics_port import metrics_listener
from services.gateway.routes import add_routes
from services.gateway.webhooks.dispatcher import WebhookDispatcher
from services.gateway.webhooks.replicate import replicate_signing_secret
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
    await db.migrate(settings.gateway_migrations_path)
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


# The loops beside the HTTP server; each `start` puts what views need on the app and
# returns the loop (see background.py).


def outbox_relay(app: web.Application) -> Loop:
    relay = OutboxRelay(app[DB], app[BUS])
    app[RELAY], app[STORE] = relay, JobStore(app[DB], on_outbox=relay.wake)
    return relay.run


def projections(app: web.Application) -> Loop:
    """Worker events and billing's cost updates onto the job rows (and the poll cache);
    the two consumers stop together."""
    settings, bus, projection = app[SETTINGS], app[BUS], Projection(app[DB])
    events = projection_handlers(projection, app[CACHE], settings.generation_backend)
    costs = billing_handlers(projection, app[CACHE])

    async def consume(stop: asyncio.Event) -> None:
        await asyncio.gather(
            bus.consume(
                projection_spec(settings), events, stop, concurrency=PROJECTION_CONCURRENCY
            ),
            bus.consume(billing_spec(settings), costs, stop, concurrency=4),
        )

    return consume


def reaper(app: web.Application) -> Loop:
    settings = app[SETTINGS]
    app[REAPER] = Reaper(
        app[DB], settings.stuck_job_timeout_s, settings.max_job_retries, announcer(app)
    )
    return app[REAPER].run


def dead_letters(app: web.Application) -> Loop:
    consumer = DeadLetters(app[DB], announcer(app))
    spec = dead_letter_spec(app[SETTINGS])
    return lambda stop: app[BUS].consume_raw(spec, consumer.handle, stop)


def idempotency_pruning(app: web.Application) -> Loop:
    return functools.partial(prune_expired_keys, app[DB])


def webhook_dispatcher(app: web.Application) -> Loop:
    app[WEBHOOKS] = WebhookDispatcher(app[DB], app[SETTINGS])
    return app[WEBHOOKS].run


async def _end_streams(app: web.Application) -> None:
    """End SSE streams first: aiohttp waits for open handlers before cleanup."""
    app[CACHE].close_listeners()


def init_app(settings: Settings) -> web.Application:
    verifier = TokenVerifier(
        settings.jwt_secret.get_secret_value(), IdentityProvider.from_settings(settings)
    )
    cors = Cors.from_settings(settings)
    # One middleware: CORS preflights (no auth, no work), auth and the error shape, then
    # idempotent replays (a replay is neither rate limited nor counted), then back-pressure.
    middleware = api_middleware(verifier, cors, job_admission(settings))
    app = web.Application(middlewares=[middleware], client_max_size=MAX_JSON_BODY)
    cors.install(app)
    app[SETTINGS] = settings
    app[CACHE] = JobCache(settings.poll_cache_max_bytes)
    # Served in front of the app once it runs (`install_poll_lane`, __main__.py).
    app[POLL_LANE] = PollLane(verifier, app[CACHE], cors if cors.origins else None)
    app[STORAGE] = LocalStorage(settings.video_storage_path)
    app[CONTRACT] = Contract(app)
    set_up_console(app)
    # Started in this order, stopped in the reverse: every loop stops before the bus
    # drains and the database closes.
    app.cleanup_ctx.extend(
        [
            metrics_listener,
            _database,
            _bus,
            background("outbox-relay", outbox_relay),
            background("projections", projections),
            background("reaper", reaper),
            background("resumer", resume_loop),
            background("dead-letters", dead_letters),
            background("idempotency-pruning", idempotency_pruning, stop_after_s=5),
            replicate_signing_secret,
            background("webhook-dispatcher", webhook_dispatcher),
        ]
    )
    app.on_shutdown.append(_end_streams)
    add_routes(app)
    return app
