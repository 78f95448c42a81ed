"""Preflight through the API: a storyboard is checked when it is ready (by the worker that
drew it, its report sent with the storyboard) and after every edit; its errors block
approval (409 `preflight_failed` listing them) until a client overrides them with a
reason, which is recorded on the job with who made it; a brief its platform cannot run is
refused when the job is created."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.events import StoryboardCompleted
from tests.support.streams import stream_messages
from tests.support.system import System

RISKY = {
    "prompt": "Introducing Glow Serum, the guaranteed cure for dull skin.",
    "key_messages": ["The guaranteed cure for dull skin"],
}


def _errors(job_or_checks: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in job_or_checks["preflight"]["findings"] if f["severity"] == "error"]


async def test_a_risky_claim_blocks_approval_until_overridden(system: System) -> None:
    job = await system.create_job(**RISKY)
    ready = await system.wait_status(job["id"], "storyboard_ready")
    assert ready["checks_status"] == "fail"
    errors = _errors(ready)
    assert any(f["check"].startswith("claims.") and f["scene"] for f in errors), errors

    status, checks, _ = await system.call("GET", f"/api/v2/jobs/{job['id']}/checks")
    assert status == 200 and checks["status"] == "fail"
    assert _errors(checks) == errors and checks["override"] is None

    status, refused, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")
    assert status == 409 and refused["error"]["code"] == "preflight_failed"
    listed = refused["error"]["details"]["findings"]
    assert {f["check"] for f in listed} == {f["check"] for f in errors}
    assert (await system.job(job["id"]))["status"] == "storyboard_ready"

    status, short, _ = await system.call(
        "POST", f"/api/v2/jobs/{job['id']}/approve", json={"override": {"reason": ""}}
    )
    assert status == 422, short

    reason = "Legal approved the wording for this market"
    status, approved, _ = await system.call(
        "POST", f"/api/v2/jobs/{job['id']}/approve", json={"override": {"reason": reason}}
    )
    assert status == 200, approved
    assert approved["status"] == "approved"
    override = approved["preflight_override"]
    assert override["reason"] == reason and override["by"] == "client-a"
    assert set(override["findings"]) == {f["check"] for f in errors}
    # Overridden errors are accepted, not gone: the job's checks say "warn" from now on.
    assert approved["checks_status"] == "warn"
    status, checks, _ = await system.call("GET", f"/api/v2/jobs/{job['id']}/checks")
    assert checks["status"] == "warn" and checks["override"]["reason"] == reason


async def test_the_worker_sends_the_preflight_the_job_shows(system: System) -> None:
    job = await system.create_job(**RISKY)
    ready = await system.wait_status(job["id"], "storyboard_ready")

    # The storyboard's message on the bus carries its report: the job shows that one.
    stored = await stream_messages(system.settings.nats_url, "JOBS")
    completions = [
        json.loads(m.data)["data"]
        for m in stored
        if m.subject == StoryboardCompleted.subject and job["id"].encode() in m.data
    ]
    assert len(completions) == 1
    sent = completions[0]["preflight"]
    assert sent["status"] == "fail" and sent["checked_at"]
    assert sent["findings"] == ready["preflight"]["findings"]
    # Stamped by the worker, to the microsecond: the gateway did not check again.
    when = [datetime.fromisoformat(r["checked_at"]) for r in (sent, ready["preflight"])]
    assert when[0] == when[1]
    assert any(f["check"].startswith("claims.") for f in _errors(ready))


async def test_an_edit_is_checked_again_and_clears_the_override(system: System) -> None:
    job = await system.create_job(**RISKY)
    ready = await system.wait_status(job["id"], "storyboard_ready")
    bad = {f["scene"] for f in _errors(ready)}
    status, _, _ = await system.call(
        "POST",
        f"/api/v2/jobs/{job['id']}/approve",
        json={"override": {"reason": "checked by legal"}},
    )
    assert status == 200
    # Rewriting the risky scenes in plain words: the new storyboard passes on its own.
    scenes = [
        {"index": n, "caption": "Brighter skin, gently", "script": "Brighter skin, gently."}
        for n in sorted(bad)
    ]
    status, edited, _ = await system.call(
        "PATCH", f"/api/v2/jobs/{job['id']}/storyboard", json={"scenes": scenes}
    )
    assert status == 200, edited
    assert edited["preflight_override"] is None
    assert _errors(edited) == []
    status, approved, _ = await system.call("POST", f"/api/v2/jobs/{job['id']}/approve")
    assert status == 200 and approved["preflight_override"] is None


async def test_a_banned_word_is_an_error_at_its_scene(system: System) -> None:
    job = await system.create_job(
        key_messages=["Cheap glow in 7 days"],
        brand={"colors": ["#ff3366"], "tone": "playful", "banned_words": ["cheap"]},
    )
    ready = await system.wait_status(job["id"], "storyboard_ready")
    banned = [f for f in _errors(ready) if "cheap" in f["message"].lower()]
    assert banned and all(f["scene"] for f in banned), ready["preflight"]


async def test_a_brief_longer_than_its_platform_allows_is_refused(system: System) -> None:
    brief = {"campaign_id": "c", "prompt": "Glow Serum", "platform": "tiktok", "duration_s": 70}
    status, body, _ = await system.call("POST", "/api/v2/jobs", json=brief)
    assert status == 422
    detail = next(d for d in body["error"]["details"] if d["field"] == "duration_s")
    assert "tiktok" in detail["message"] and "60" in detail["message"]
    status, listed, _ = await system.call("GET", "/api/v2/jobs")
    assert status == 200 and listed["items"] == []
