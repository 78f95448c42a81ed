"""Typed application keys for the gateway's long-lived resources."""

from __future__ import annotations

from aiohttp import web

from services.gateway.jobs.cache import JobCache
from services.gateway.jobs.commands import JobStore
from services.gateway.jobs.outbox import OutboxRelay
from shared.bus import Bus
from shared.db import Database
from shared.settings import Settings
from shared.storage import LocalStorage

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", Database)
BUS = web.AppKey("bus", Bus)
STORE = web.AppKey("store", JobStore)
CACHE = web.AppKey("cache", JobCache)
STORAGE = web.AppKey("storage", LocalStorage)
RELAY = web.AppKey("relay", OutboxRelay)
