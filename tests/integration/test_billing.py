"""The billing service on a real nats-server: quotes and commits over request/reply, the
ledger fed by its durable consumer, daily budgets, and the cost events' contract as the
billing team consumes it."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.js.api import AckPolicy, ConsumerConfig
from prometheus_client import REGISTRY

from services.billing.__main__ import serve
from services.billing.settings import BillingSettings
from services.gateway.clients.billing import (
    BillingError,
    BillingUnavailable,
    billing_summary,
    commit_job,
    request_quote,
)
from shared.billing import (
    BudgetAlert,
    CommitReply,
    CostRecorded,
    ErrorReply,
    JobCostUpdated,
    Summary,
)
from shared.bus import Bus
from shared.events import Event, JobCanceled, RenderCompleted, StoryboardFailed, parse_event
from shared.models import GenerationRequest
from shared.pricing import DEFAULT_PRICING_FILE
from tests.support.nats_server import NatsServer
from tests.support.system import delete_streams, settings_for
from tests.support.waiting import eventually

NOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SOFT_USD, HARD_USD = 5.0, 10.0
TIKTOK_30S = GenerationRequest(
    campaign_id="spring", prompt="Introducing Glow Serum.", platform="tiktok", duration_s=30
)


@dataclass
class FakeClock:
    now: datetime = NOON

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Billing:
    """The billing service under test, plus a connection acting as producer and gateway."""

    settings: BillingSettings
    bus: Bus
    clock: FakeClock = field(default_factory=FakeClock)
    task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            serve(self.settings, self.stop, handle_signals=False, clock=self.clock)
        )
        # Ready when it answers a quote.
        await eventually(lambda: _answers(self.bus), lambda ok: ok)

    async def shutdown(self) -> None:
        if self.task is not None:
            self.stop.set()
            await asyncio.wait_for(self.task, 20)
            self.task = None

    async def record(self, amount_usd: float, **fields: Any) -> Event[CostRecorded]:
        """Publish a charge as storyboard/renderer do: the id derives from the charge."""
        event_id = fields.pop("event_id", None)
        cost = charge(amount_usd, occurred_at=self.clock.now, **fields)
        event = cost.envelope(
            job_id=cost.job_id, client_id=cost.client_id, event_id=event_id or cost.event_id
        )
        await self.bus.publish(event)
        return event

    async def summary(self, client_id: str | None = None, day: date | None = None) -> Summary:
        return await billing_summary(self.bus, client_id, day=day)

    async def commit(self, job_id: str, stage: str = "render", **fields: Any) -> CommitReply:
        values: dict[str, Any] = {"request": TIKTOK_30S, "backend": "replicate"}
        values.update(fields)
        return await commit_job(
            self.bus, job_id=job_id, client_id="client-a", stage=stage, **values
        )

    async def drained(self, stream: str = "BILLING", durable: str = "billing") -> None:
        """Wait until the service has handled everything its durable has been sent."""

        async def backlog() -> int:
            info = await self.bus.js.consumer_info(stream, durable)
            return int(info.num_pending + info.num_ack_pending)

        await eventually(backlog, lambda n: n == 0)

    async def published(self, subject: str) -> list[Event[Any]]:
        """Every event stored on `subject`, read with a throwaway consumer."""
        sub = await self.bus.js.pull_subscribe(subject, stream="BILLING")
        try:
            count = (await sub.consumer_info()).num_pending
            messages = await sub.fetch(count, timeout=5) if count else []
            return [parse_event(m.subject, m.data) for m in messages]
        finally:
            await sub.unsubscribe()


def charge(amount_usd: float, occurred_at: datetime, **fields: Any) -> CostRecorded:
    values: dict[str, Any] = {
        "job_id": "job-1",
        "client_id": "client-a",
        "stage": "render",
        "scene": 1,
        "provider": "replicate",
        "model": "wan-video/wan-2.1-i2v-480p",
        "prediction_id": f"p-{amount_usd}",
        "unit": "video_second",
        "units": 5,
        "unit_price_usd": amount_usd / 5,
        "amount_usd": amount_usd,
        "occurred_at": occurred_at,
    }
    values.update(fields)
    return CostRecorded.model_validate(values)


@pytest_asyncio.fixture
async def billing(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[Billing]:
    """A running billing service on its own billing.db and a copy of the default pricing
    table, with small daily limits (soft $5, hard $10); streams are removed after."""
    pricing_file = tmp_path / "pricing.toml"
    shutil.copy(DEFAULT_PRICING_FILE, pricing_file)
    base = settings_for(
        nats_server.url,
        tmp_path,
        service_name="billing",
        database_path=tmp_path / "billing.db",
        daily_budget_soft_usd=SOFT_USD,
        daily_budget_hard_usd=HARD_USD,
    )
    settings = BillingSettings(**{**base.model_dump(), "pricing_file": pricing_file})
    bus = await Bus.connect(nats_server.url, service="test")
    await bus.ensure_streams()
    service = Billing(settings=settings, bus=bus)
    await service.start()
    try:
        yield service
    finally:
        await service.shutdown()
        await bus.close()
        await delete_streams(nats_server.url)


async def _accuracy_count() -> float:
    return REGISTRY.get_sample_value("reelsmith_cost_accuracy_ratio_count") or 0.0


async def _answers(bus: Bus) -> bool:
    try:
        await request_quote(bus, TIKTOK_30S, "client-a", "local", timeout_s=1)
    except BillingUnavailable:
        return False
    return True


async def test_quote_over_request_reply_follows_the_pricing_file(billing: Billing) -> None:
    # The gateway asks for a quote: the 30 s TikTok costs about the seed's $3.00, with
    # line items and today's (untouched) budget.
    estimate = await request_quote(billing.bus, TIKTOK_30S, "client-a", "replicate")
    assert estimate.estimated_cost == pytest.approx(3.00, rel=0.15)
    assert {i.role for i in estimate.line_items} == {"script", "frame", "clip", "voice"}
    assert estimate.budget is not None and estimate.budget.state == "ok"

    # Someone doubles wan's price in the data file; the next quote uses it, no restart.
    path = billing.settings.pricing_file
    path.write_text(path.read_text().replace("price_usd = 0.09\n", "price_usd = 0.18\n"))
    repriced = await request_quote(billing.bus, TIKTOK_30S, "client-a", "replicate")
    assert repriced.estimated_cost == pytest.approx(estimate.estimated_cost + 35 * 0.09)

    # A backend without prices is a clear error, not a timeout; so is a malformed body.
    with pytest.raises(BillingError, match="unpriced"):
        await request_quote(billing.bus, TIKTOK_30S, "client-a", "acme")
    answer = await billing.bus.nc.request("billing.quote", b'{"backend": 1}', timeout=5)
    error = ErrorReply.model_validate_json(answer.data).error
    assert error.code == "invalid_request" and answer.headers["Nats-Service-Error-Code"] == "400"

    # With billing gone, the client says so at once.
    await billing.shutdown()
    with pytest.raises(BillingUnavailable):
        await request_quote(billing.bus, TIKTOK_30S, "client-a", "replicate", timeout_s=2)


async def test_duplicate_cost_events_are_counted_once(billing: Billing) -> None:
    # A charge is delivered twice with its id (JetStream drops the copy) and re-sent once
    # under a new id (the ledger's idempotency key drops that one).
    await billing.record(1.25, prediction_id="pred-1")
    await billing.record(1.25, prediction_id="pred-1")
    await billing.record(1.25, prediction_id="pred-1", event_id="resent-with-new-id")
    # One LLM call billed in two kinds is two charges.
    llm = {"model": "meta/meta-llama-3-70b-instruct", "prediction_id": "pred-2", "scene": None}
    await billing.record(0.5, unit="input_token", units=1000, **llm)
    await billing.record(0.75, unit="output_token", units=800, **llm)

    # The ledger holds three charges worth $2.50.
    await billing.drained()
    summary = await billing.summary()
    assert summary.total_usd == pytest.approx(2.5)
    assert sum(m.cost_events for m in summary.by_model) == 3


async def test_job_cost_updated_carries_actual_and_estimate(billing: Billing) -> None:
    # The job's render was committed, so billing knows its estimate.
    committed = await billing.commit("job-1")
    assert committed.accepted

    # Two clips are billed, and the first is delivered again.
    await billing.record(0.45, scene=1, prediction_id="clip-1")
    await billing.record(0.45, scene=2, prediction_id="clip-2")
    await billing.record(0.45, scene=1, prediction_id="clip-1", event_id="again")
    await billing.drained()

    # One update per change of the total, in order, each with the estimate.
    updates = [e.data for e in await billing.published(JobCostUpdated.subject)]
    assert [u.actual_cost for u in updates] == [pytest.approx(0.45), pytest.approx(0.9)]
    assert all(u.estimated_cost == committed.quote.estimated_cost for u in updates)
    assert updates[-1].cost_events == 2 and updates[-1].job_id == "job-1"

    # The render completes: the job's actual/estimated ratio is observed once.
    before = await _accuracy_count()
    done = RenderCompleted(outputs=[]).envelope(job_id="job-1", client_id="client-a")
    await billing.bus.publish(done)
    await eventually(_accuracy_count, lambda n: n == before + 1)


async def test_soft_alert_fires_once_per_day(billing: Billing) -> None:
    # $6 of charges cross the $5 soft limit; another $1 stays below the $10 hard limit.
    await billing.record(3, prediction_id="a")
    await billing.record(3, prediction_id="b")
    await billing.record(1, prediction_id="c")
    await billing.drained()
    alerts = [e.data for e in await billing.published(BudgetAlert.subject)]
    assert [(a.level, a.day) for a in alerts] == [("soft", NOON.date())]
    assert alerts[0].spent_today_usd == pytest.approx(6) and alerts[0].limit_usd == SOFT_USD

    # The next UTC day starts from zero and warns again when it crosses the limit.
    billing.clock.now = NOON + timedelta(days=1)
    await billing.record(2, prediction_id="d")
    await billing.record(4, prediction_id="e")
    await billing.drained()
    alerts = [e.data for e in await billing.published(BudgetAlert.subject)]
    assert [(a.level, a.day) for a in alerts] == [
        ("soft", NOON.date()),
        ("soft", NOON.date() + timedelta(days=1)),
    ]


async def test_hard_limit_refuses_new_paid_work_until_midnight(billing: Billing) -> None:
    # Today's charges reach the $10 hard limit.
    await billing.record(6, prediction_id="a")
    await billing.record(4.5, prediction_id="b")
    await billing.drained()

    # Quotes report it, with the seconds to the next UTC midnight (12 h from noon).
    estimate = await request_quote(billing.bus, TIKTOK_30S, "client-a", "replicate")
    assert estimate.budget is not None
    assert estimate.budget.state == "hard_exceeded"
    assert estimate.budget.retry_after_s == 12 * 3600

    # A paid render is refused; free (local) work still runs.
    refused = await billing.commit("job-2")
    assert not refused.accepted and refused.reason == "daily_budget_exhausted"
    assert refused.retry_after_s == 12 * 3600 and refused.amount_usd == 0
    assert (await billing.commit("job-3", backend="local")).accepted

    # Ops heard both levels, once each.
    levels = [e.data.level for e in await billing.published(BudgetAlert.subject)]
    assert levels == ["soft", "hard"]


async def test_burst_of_commits_overshoots_by_at_most_one_job(billing: Billing) -> None:
    # Twelve renders ask at once; each would reserve about $3.20 of the $10 limit.
    replies = await asyncio.gather(*(billing.commit(f"burst-{n}") for n in range(12)))
    accepted = [r for r in replies if r.accepted]
    estimate = accepted[0].amount_usd

    # Commits are decided one by one: admitted while under the limit, so the last one
    # admitted is the only overshoot.
    reserved = sum(r.amount_usd for r in accepted)
    assert len(accepted) == 4
    assert HARD_USD <= reserved <= HARD_USD + estimate
    assert all(r.reason == "daily_budget_exhausted" for r in replies if not r.accepted)

    # Asking again for an admitted job reserves nothing more.
    again = await billing.commit("burst-0")
    assert again.accepted and again.budget.committed_usd == pytest.approx(reserved)

    # A failed scene refinement leaves its job running; a canceled job gives back what it
    # had not spent, and the next job gets in.
    first, second = accepted[0].job_id, accepted[1].job_id
    refine_failed = StoryboardFailed(error_message="model error", refined_scene=2)
    await billing.bus.publish(refine_failed.envelope(job_id=first, client_id="client-a"))
    await billing.bus.publish(JobCanceled().envelope(job_id=second, client_id="client-a"))
    await billing.drained("JOBS", "billing-jobs")
    quote_after = await request_quote(billing.bus, TIKTOK_30S, "client-a", "replicate")
    assert quote_after.budget is not None
    assert quote_after.budget.committed_usd == pytest.approx(reserved - estimate)
    assert (await billing.commit("burst-late")).accepted


async def test_restart_loses_no_cost_event(billing: Billing) -> None:
    # One charge is recorded while billing runs.
    await billing.record(1, prediction_id="before")
    await eventually(billing.summary, lambda s: s.total_usd == pytest.approx(1))

    # Billing stops; the renderer keeps billing three more calls.
    await billing.shutdown()
    for n in range(3):
        await billing.record(0.5, prediction_id=f"while-down-{n}")

    # Started again on the same billing.db, it catches up from its durable consumer.
    await billing.start()
    summary = await eventually(billing.summary, lambda s: s.total_usd >= 2.5)
    assert summary.total_usd == pytest.approx(2.5)
    assert summary.by_day[0].cost_events == 4


async def test_summary_by_client_model_and_day(billing: Billing) -> None:
    # Two clients spend on two models; client-a also spent the day before.
    billing.clock.now = NOON - timedelta(days=1)
    await billing.record(0.5, prediction_id="yesterday")
    billing.clock.now = NOON
    await billing.record(1, prediction_id="a-clip")
    await billing.record(0.02, prediction_id="a-frame", model="flux", unit="image", units=1)
    await billing.record(2, client_id="client-b", job_id="job-b", prediction_id="b-clip")
    await billing.drained()

    # A client sees only its own spend, and no global budget.
    mine = await billing.summary("client-a")
    assert mine.total_usd == pytest.approx(1.52)
    assert [c.client_id for c in mine.by_client] == ["client-a"]
    assert [d.day for d in mine.by_day] == [NOON.date() - timedelta(days=1), NOON.date()]
    assert mine.budget is None

    # An admin sees every client and model, for one day, with the budget.
    today = await billing.summary(day=NOON.date())
    assert today.total_usd == pytest.approx(3.02)
    assert [c.client_id for c in today.by_client] == ["client-b", "client-a"]
    assert {(m.model, m.unit) for m in today.by_model} == {
        ("wan-video/wan-2.1-i2v-480p", "video_second"),
        ("flux", "image"),
    }
    assert today.budget is not None and today.budget.spent_today_usd == pytest.approx(3.02)


async def test_billing_team_subscriber_gets_each_charge_once(billing: Billing) -> None:
    # The billing team's consumer, written with plain nats-py: a durable pull consumer on
    # the BILLING stream, acking what it has stored.
    nc = await nats.connect(billing.settings.nats_url)
    js = nc.jetstream()
    await js.add_consumer(
        "BILLING",
        ConsumerConfig(
            durable_name="billing-team",
            filter_subject=CostRecorded.subject,
            ack_policy=AckPolicy.EXPLICIT,
        ),
    )
    sub = await js.pull_subscribe_bind(durable="billing-team", stream="BILLING")

    # Four paid calls are billed; one is published twice (a producer retry).
    sent = [await billing.record(0.1 * n, prediction_id=f"call-{n}") for n in range(1, 5)]
    await billing.record(0.1, prediction_id="call-1")

    # The team crashes after storing the first charge, before acking it: it comes back.
    seen: list[str] = []
    stored: dict[str, CostRecorded] = {}
    while len(stored) < len(sent) or len(seen) == len(stored):
        for msg in await sub.fetch(10, timeout=5):
            event = parse_event(msg.subject, msg.data)
            seen.append(event.id)
            stored.setdefault(event.id, event.data)  # de-duplicate by event id
            if len(seen) == 1:
                await msg.nak()
            else:
                await msg.ack()
    await nc.close()

    # Delivered at least once (the crashed one twice), stored exactly once.
    assert len(seen) == len(sent) + 1
    assert set(stored) == {e.id for e in sent}
    assert sorted(c.prediction_id for c in stored.values()) == [f"call-{n}" for n in (1, 2, 3, 4)]


def test_contract_document_lists_every_field() -> None:
    # docs/billing-events.md names every field of every event a subscriber receives.
    doc = (Path(__file__).resolve().parents[2] / "docs" / "billing-events.md").read_text()
    for model in (CostRecorded, JobCostUpdated, BudgetAlert):
        assert f"`{model.subject}`" in doc
        section = doc.split(f"### `{model.subject}`", 1)[1].split("\n### ", 1)[0]
        documented = set(re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE))
        assert documented == set(model.model_fields), model.subject
