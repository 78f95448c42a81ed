"""The client's side of outgoing webhooks over HTTP: its signing secret (read, rotate),
a job's delivery log, and the check that a brief's `webhook_url` may be reached, made
when the job is submitted rather than when the first delivery fails."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel

from services.gateway.appkeys import DB, SETTINGS
from services.gateway.contract.operations import ERROR, operation
from services.gateway.http.bodies import model_response
from services.gateway.http.errors import NotFound, Unprocessable
from services.gateway.http.middlewares import principal_of
from services.gateway.jobs.store import owner_of
from services.gateway.webhooks.queue import WebhookSecret, client_secret, rotate_secret
from services.gateway.webhooks.targets import TargetPolicy, TargetRefused
from shared.db import Database
from shared.models import GenerationRequest


class WebhookUrlRefused(Unprocessable):
    code = "webhook_url_not_allowed"


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
    owner = await owner_of(db, job_id)
    if owner is None or (owner != principal.client_id and not principal.is_admin):
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
