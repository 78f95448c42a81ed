"""Billing service: pricing and quotes, budget commits, the cost ledger, daily budgets.

One replica (it owns billing.db). Answers `billing.quote`, `billing.commit`,
`billing.summary`, `billing.limits.get` and `billing.limits.set` (request/reply); consumes
`billing.cost.recorded` (durable `billing` on BILLING) and the end of jobs (durable
`billing-jobs` on JOBS); emits `billing.job.cost_updated`, `billing.budget.alert` and
`billing.budget.changed`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from services.billing.budget import BudgetLimits
from services.billing.endpoints import ERRORS, Endpoint, serve_endpoints
from services.billing.handlers import JOB_ENDINGS, BillingHandlers, Clock
from services.billing.settings import BillingSettings
from shared.billing import (
    CommitReply,
    CommitRequest,
    CostRecorded,
    Limits,
    LimitsChangeRequest,
    LimitsRequest,
    Quote,
    QuoteRequest,
    Summary,
    SummaryRequest,
)
from shared.bus import ConsumerSpec, Handler
from shared.db import Database
from shared.events import PAYLOADS, Payload, utc_now
from shared.logging import get_logger
from shared.pricing import PricingSource
from shared.service import run_service, worker_runtime
from shared.settings import Settings

log = get_logger(__name__)


def cost_consumer(settings: Settings) -> ConsumerSpec:
    return ConsumerSpec(
        durable="billing",
        stream="BILLING",
        subjects=(CostRecorded.subject,),
        ack_wait_s=settings.consumer_ack_wait_s,
        max_deliver=settings.consumer_max_deliver,
    )


def job_end_consumer(settings: Settings) -> ConsumerSpec:
    # Not plain "billing": the bus keeps its in-flight accounting per durable name, and this
    # consumer must not wait on the cost consumer's work (or the other way round).
    return ConsumerSpec(
        durable="billing-jobs",
        stream="JOBS",
        subjects=tuple(JOB_ENDINGS),
        ack_wait_s=settings.consumer_ack_wait_s,
        max_deliver=settings.consumer_max_deliver,
    )


def endpoints(handlers: BillingHandlers) -> list[Endpoint[Any, Any]]:
    return [
        Endpoint("quote", "billing.quote", QuoteRequest, Quote, handlers.on_quote),
        Endpoint("commit", "billing.commit", CommitRequest, CommitReply, handlers.on_commit),
        Endpoint("summary", "billing.summary", SummaryRequest, Summary, handlers.on_summary),
        # Not under billing.budget.>: the BILLING stream captures that (docs/decisions.md).
        Endpoint("limits", "billing.limits.get", LimitsRequest, Limits, handlers.on_limits),
        Endpoint(
            "set_limits", "billing.limits.set", LimitsChangeRequest, Limits, handlers.on_set_limits
        ),
    ]


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    handle_signals: bool = True,
    clock: Clock = utc_now,
) -> None:
    config = BillingSettings.from_base(settings)
    pricing = PricingSource(config.pricing_file)
    db = await Database.open(config.database_path)
    try:
        await db.migrate(config.billing_migrations_path)
        async with worker_runtime(config, stop, handle_signals) as runtime:
            runtime.readiness_checks.append(db.ping)
            limits = BudgetLimits(config.daily_budget_soft_usd, config.daily_budget_hard_usd)
            handlers = BillingHandlers(
                db, runtime.bus, pricing, limits, clock, config.commitment_ttl_s
            )
            await handlers.publish_pending_alerts(raise_errors=False)
            job_ends: dict[type[Payload], Handler] = {
                PAYLOADS[s]: handlers.on_job_ended for s in job_end_consumer(config).subjects
            }
            log.info(
                "billing.ready",
                extra={
                    "pricing_version": pricing.table().version,
                    "pricing_file": str(config.pricing_file),
                },
            )
            served = await serve_endpoints(runtime.bus.nc, "billing", endpoints(handlers), ERRORS)
            async with served:
                await asyncio.gather(
                    runtime.bus.consume(
                        cost_consumer(config),
                        {CostRecorded: handlers.on_cost_recorded},
                        runtime.stop,
                    ),
                    runtime.bus.consume(job_end_consumer(config), job_ends, runtime.stop),
                    handlers.keep_budget(runtime.stop),
                )
    finally:
        await db.close()


if __name__ == "__main__":
    run_service(serve, "billing")
