"""Outgoing webhooks, database side: the body announcing a job's new state, queued in the
caller's transaction (so the state change and its delivery commit together), and each
client's signing secret."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from pydantic import BaseModel, Field

from services.gateway.jobs.lifecycle import NOTIFIED, WebhookType
from services.gateway.jobs.store import JobRecord, load
from services.gateway.webhooks.signing import new_secret
from shared.checks.findings import ChecksStatus
from shared.db import NOW_SQL, Database, Transaction
from shared.models import Job, JobStatus, Pause

# After a rotation the previous secret still signs (a second signature) this long.
ROTATION_GRACE_S = 86_400


class ChecksSummary(BaseModel):
    """The checks in a webhook: the job's `checks_status` and what stands behind it."""

    status: ChecksStatus | None
    errors: int
    warnings: int
    outputs_checked: int = Field(description="Outputs whose file was measured by QC.")

    @classmethod
    def of(cls, job: Job) -> ChecksSummary:
        findings = list(job.preflight.findings) if job.preflight is not None else []
        checked = [output.qc for output in job.outputs if output.qc is not None]
        for report in checked:
            findings.extend(report.findings)
        return cls(
            status=job.checks_status,
            errors=sum(finding.severity == "error" for finding in findings),
            warnings=sum(finding.severity == "warning" for finding in findings),
            outputs_checked=len(checked),
        )


class JobWebhook(BaseModel):
    """The JSON body POSTed to a job's `webhook_url` when it enters a new state."""

    type: WebhookType
    job_id: str
    campaign_id: str
    status: JobStatus
    estimated_cost: float | None = None
    actual_cost: float | None = None
    error_message: str | None = Field(default=None, description="Why the job failed.")
    video_url: str | None = Field(default=None, description="API path of the first video.")
    checks: ChecksSummary | None = Field(
        default=None,
        description="On `storyboard_ready` and `completed`: what preflight and QC found "
        "(details: `GET /jobs/{id}/checks`).",
    )
    paused: Pause | None = Field(
        default=None,
        description="On `paused`: why the job waits, for which stage, and when it resumes.",
    )
    occurred_at: datetime


class WebhookSecret(BaseModel):
    """A client's webhook signing secret (`whsec_` + base64), for Standard Webhooks tools."""

    key: str
    rotated_at: datetime | None = None


async def queue_job_webhook(
    tx: Transaction, record: JobRecord, cause_id: str, kind: WebhookType | None = None
) -> None:
    """Queue the webhook announcing `record`'s state, if the job has a `webhook_url` and the
    state is one clients hear about (or `kind` names the change, e.g. `resumed`).
    `cause_id` (the event or command that changed the state) makes the delivery id, so
    the same change is never queued twice."""
    url = record.request.webhook_url
    kind = kind or NOTIFIED.get(record.job.status)
    if url is None or kind is None:
        return
    job = record.job
    body = JobWebhook(
        type=kind,
        job_id=job.id,
        campaign_id=job.campaign_id,
        status=job.status,
        estimated_cost=job.estimated_cost,
        actual_cost=job.actual_cost,
        error_message=job.error_message,
        video_url=job.video_url,
        checks=ChecksSummary.of(job) if kind in ("storyboard_ready", "completed") else None,
        paused=job.paused if kind == "paused" else None,
        occurred_at=job.updated_at,
    )
    await tx.execute(
        "INSERT OR IGNORE INTO webhook_deliveries (id, job_id, client_id, url, type, payload)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (f"msg_{cause_id}", job.id, record.client_id, url, kind, body.model_dump_json().encode()),
    )


async def load_notifying(
    tx: Transaction, job_id: str, cause_id: str, kind: WebhookType | None = None
) -> JobRecord:
    """The job as just written, with its webhook queued in the same transaction."""
    record = await load(tx, job_id)
    await queue_job_webhook(tx, record, cause_id, kind)
    return record


async def client_secret(db: Database, client_id: str) -> WebhookSecret:
    """The client's secret, made on first use."""
    row = await db.fetchone(
        "SELECT key, rotated_at FROM webhook_secrets WHERE client_id = ?", (client_id,)
    )
    if row is not None:
        return WebhookSecret(key=row["key"], rotated_at=row["rotated_at"])
    async with db.transaction() as tx:
        await tx.execute(
            "INSERT OR IGNORE INTO webhook_secrets (client_id, key) VALUES (?, ?)",
            (client_id, new_secret()),
        )
        row = await tx.fetchone(
            "SELECT key, rotated_at FROM webhook_secrets WHERE client_id = ?", (client_id,)
        )
    return _secret_from(row, client_id)


def _secret_from(row: sqlite3.Row | None, client_id: str) -> WebhookSecret:
    # Read back in the transaction that wrote it: the row is always there.
    if row is None:
        raise RuntimeError(f"webhook secret of client {client_id} missing after its write")
    return WebhookSecret(key=row["key"], rotated_at=row["rotated_at"])


async def rotate_secret(db: Database, client_id: str) -> WebhookSecret:
    """A new secret; the old one keeps signing (as a second signature) for a grace period."""
    await client_secret(db, client_id)
    async with db.transaction() as tx:
        await tx.execute(
            f"UPDATE webhook_secrets SET previous_key = key, key = ?, rotated_at = {NOW_SQL}"
            " WHERE client_id = ?",
            (new_secret(), client_id),
        )
        row = await tx.fetchone(
            "SELECT key, rotated_at FROM webhook_secrets WHERE client_id = ?", (client_id,)
        )
    return _secret_from(row, client_id)


async def signing_secrets(db: Database, client_id: str) -> list[str]:
    """The secrets a delivery is signed with now: the current one, plus the previous one
    within the grace period after a rotation."""
    current = await client_secret(db, client_id)
    row = await db.fetchone(
        "SELECT previous_key FROM webhook_secrets WHERE client_id = ? AND previous_key IS NOT"
        " NULL AND rotated_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)",
        (client_id, f"-{ROTATION_GRACE_S} seconds"),
    )
    return [current.key, row["previous_key"]] if row else [current.key]
