"""The gateway asks billing before paid work: estimates, the daily budget, actual cost."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from services.billing.__main__ import serve as serve_billing
from shared.billing import CostRecorded
from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system
from tests.support.waiting import eventually

TIKTOK_30 = {"platform": "tiktok", "duration_s": 30}


def start_billing(system: System, root: Path, **overrides: object) -> None:
    system._start(serve_billing, "billing", {"database_path": root / "billing.db", **overrides})


async def test_estimates_price_the_brief(system: System, tmp_path: Path) -> None:
    # Without a billing service an estimate cannot be made: 503, clearly.
    brief = {"campaign_id": "c", "prompt": "Introducing Glow", **TIKTOK_30}
    status, body, _ = await system.call("POST", "/api/v2/estimate", json=brief)
    assert status == 503 and body["error"]["code"] == "unavailable"

    # With billing running, the local engine is free and real models are priced.
    start_billing(system, tmp_path)
    status, local = await eventually(
        lambda: _estimate(system, brief, ""), lambda answer: answer[0] != 503
    )
    assert status == 200 and local["estimated_cost"] == 0
    status, paid = await _estimate(system, brief, "?backend=replicate")
    assert status == 200 and 2.5 <= paid["estimated_cost"] <= 3.7
    roles = {item["role"] for item in paid["line_items"]}
    assert {"script", "frame", "clip"} <= roles
    assert paid["budget"]["state"] == "ok"

    # Bad input is named.
    status, body = await _estimate(system, {**brief, "duration_s": 99}, "?backend=replicate")
    assert status == 422
    status, body = await _estimate(system, brief, "?backend=openai")
    assert status == 400 and "backend" in body["error"]["message"]

    # The spend summary answers for the client (and everyone, for an admin).
    status, summary, _ = await system.call("GET", "/api/v2/billing/summary")
    assert status == 200 and summary["client_id"] == "client-a" and summary["total_usd"] == 0
    status, summary, _ = await system.call(
        "GET", "/api/v2/billing/summary?day=2026-01-01", client_id="ops", role="admin"
    )
    assert status == 200 and summary["client_id"] is None
    status, _, _ = await system.call("GET", "/api/v2/billing/summary?day=yesterday")
    assert status == 400


async def _estimate(system: System, brief: dict[str, object], query: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    status, body, _ = await system.call("POST", f"/api/v2/estimate{query}", json=brief)
    return status, body


async def test_paid_jobs_stop_at_the_hard_limit(nats_server: NatsServer, tmp_path: Path) -> None:
    # A deployment on real models whose daily hard limit is one cent.
    async with running_system(
        nats_server.url,
        tmp_path,
        storyboard_workers=0,
        renderer_workers=0,
        generation_backend="replicate",
    ) as system:
        start_billing(system, tmp_path, daily_budget_soft_usd=0.005, daily_budget_hard_usd=0.01)
        brief = {"campaign_id": "c", "prompt": "Introducing Glow", **TIKTOK_30}

        # The first job is accepted and carries its estimate.
        first = await eventually(
            lambda: system.call("POST", "/api/v2/jobs", json=brief),
            lambda answer: answer[0] != 503,
        )
        status, job, _ = first
        assert status == 202 and job["estimated_cost"] > 0

        # The next one would overshoot: a caller that prefers a refusal gets 429 with
        # Retry-After until UTC midnight (by default it would be held: test_budget_pause.py).
        status, body, response = await system.call(
            "POST", "/api/v2/jobs?on_budget=reject", json=brief
        )
        assert status == 429 and body["error"]["code"] == "daily_budget_exhausted"
        retry_after = int(response.headers["Retry-After"])
        now = datetime.now(UTC)
        to_midnight = 86_400 - (now.hour * 3600 + now.minute * 60 + now.second)
        assert 0 < retry_after <= to_midnight + 5

        # A paid call for the first job is recorded; the job shows what it really cost.
        cost = CostRecorded(
            job_id=job["id"],
            client_id="client-a",
            stage="storyboard",
            scene=1,
            provider="replicate",
            model="black-forest-labs/flux-schnell",
            prediction_id="pred-1",
            unit="image",
            units=1,
            unit_price_usd=0.003,
            amount_usd=0.003,
            occurred_at=now,
        )
        event = cost.envelope(job_id=job["id"], client_id="client-a", event_id=cost.event_id)
        await system.bus.publish(event)
        updated = await eventually(
            lambda: system.job(job["id"]), lambda j: j["actual_cost"] is not None
        )
        assert abs(updated["actual_cost"] - 0.003) < 1e-9
