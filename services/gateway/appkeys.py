"""Every typed application key of the gateway, in one place: the long-lived resources
that views, middlewares and background loops find on `request.app`. Each is set once,
in `app.py` (directly, or by the background loop that owns it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from shared.bus import Bus
from shared.db import Database
from shared.settings import Settings
from shared.storage import LocalStorage

if TYPE_CHECKING:
    # The modules defining these import this one for SETTINGS, DB, ...: their types are
    # needed by the type checker only.
    from services.gateway.console.views import ConsoleFiles
    from services.gateway.contract.views import Contract
    from services.gateway.http.auth import TokenVerifier
    from services.gateway.jobs.cache import JobCache
    from services.gateway.jobs.commands import JobStore
    from services.gateway.jobs.outbox import OutboxRelay
    from services.gateway.jobs.reaper import Reaper
    from services.gateway.jobs.resume import Resumer
    from services.gateway.webhooks.dispatcher import WebhookDispatcher
    from services.gateway.webhooks.replicate import SigningSecret

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
BUS = web.AppKey("bus", Bus)
STORAGE = web.AppKey("storage", LocalStorage)
# The jobs: commands (with the outbox relay woken on each), the poll cache, the reaper.
STORE: web.AppKey[JobStore] = web.AppKey("store")
CACHE: web.AppKey[JobCache] = web.AppKey("cache")
RELAY: web.AppKey[OutboxRelay] = web.AppKey("relay")
REAPER: web.AppKey[Reaper] = web.AppKey("reaper")
# Jobs paused for the daily budget, tried again when billing can take them.
RESUMER: web.AppKey[Resumer] = web.AppKey("resumer")
# Outgoing webhooks' delivery loop; the Replicate receiver's signing secret.
WEBHOOKS: web.AppKey[WebhookDispatcher] = web.AppKey("webhooks")
REPLICATE_SECRET: web.AppKey[SigningSecret] = web.AppKey("replicate_webhook_secret")
# The OpenAPI document and docs viewer; the console's files; media-token verification.
CONTRACT: web.AppKey[Contract] = web.AppKey("contract")
CONSOLE_FILES: web.AppKey[ConsoleFiles] = web.AppKey("console_files")
MEDIA_VERIFIER: web.AppKey[TokenVerifier] = web.AppKey("media_verifier")
