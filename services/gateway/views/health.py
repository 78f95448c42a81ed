"""The probes and the scrape: liveness, readiness (NATS and the database) and the
Prometheus metrics, all without a token. The probes stay on the API port; `/metrics` moves
to METRICS_PORT when one is set (metrics_port.py)."""

from __future__ import annotations

from aiohttp import web

from services.gateway.appkeys import BUS, DB
from services.gateway.contract.operations import Response, operation
from services.gateway.contract.schemas import Health, Readiness
from services.gateway.http.bodies import model_response
from shared.metrics import exposition


@operation(
    summary="Liveness: the process answers",
    tags=("ops",),
    traced=False,
    responses={200: Health},
    auth=False,
)
async def healthz(_: web.Request) -> web.Response:
    return model_response(Health())


@operation(
    summary="Readiness: NATS connected and the database answering",
    tags=("ops",),
    traced=False,
    responses={200: Readiness, 503: Response(Readiness, "Not ready (yet).")},
    auth=False,
)
async def readyz(request: web.Request) -> web.Response:
    nats_ok = request.app[BUS].connected
    db_ok = await request.app[DB].ping()
    ready = nats_ok and db_ok
    readiness = Readiness(status="ready" if ready else "not_ready", nats=nats_ok, db=db_ok)
    return model_response(readiness, status=200 if ready else 503)


@operation(
    summary="Prometheus metrics",
    tags=("ops",),
    traced=False,
    responses={200: Response("text/plain", "Prometheus text exposition format 0.0.4.")},
    auth=False,
)
async def metrics(_: web.Request) -> web.Response:
    body, content_type = exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})
