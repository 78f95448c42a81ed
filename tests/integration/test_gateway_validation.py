"""Bad input gets a clear 4xx naming the problem, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.system import System

VALID: dict[str, Any] = {
    "campaign_id": "c1",
    "prompt": "A launch ad for Zephyr Buds",
    "platform": "tiktok",
    "duration_s": 15,
}

INVALID = [
    ({"platform": "myspace"}, "platform"),
    ({"duration_s": 4}, "duration_s"),
    ({"duration_s": 61}, "duration_s"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "x" * 4001}, "prompt"),
    ({"variations": 6}, "variations"),
    ({"quality": "4k"}, "quality"),
    ({"brand": {"colors": ["red"]}}, "brand.colors.0"),
    ({"unexpected": 1}, "unexpected"),
    ({"campaign_id": None}, "campaign_id"),
    # Host names DNS cannot carry: over 253 characters, or a label over 63.
    ({"webhook_url": f"https://{'a' * 300}.example.com/hook"}, "webhook_url"),
    ({"webhook_url": f"https://{'b' * 64}.example.com/hook"}, "webhook_url"),
]


async def _job_rows(system: System) -> int:
    row = await system.db.fetchone("SELECT count(*) AS n FROM generated_videos")
    return int(row["n"])


@pytest.mark.parametrize(("change", "field"), INVALID)
async def test_invalid_briefs_are_422_naming_the_field(
    system: System, change: dict[str, Any], field: str
) -> None:
    # An invalid brief is refused with the offending field named, and no row is written.
    status, body, _ = await system.call("POST", "/api/v2/jobs", json={**VALID, **change})
    assert status == 422, body
    assert body["error"]["code"] == "validation_error"
    assert field in [d["field"] for d in body["error"]["details"]]
    assert field.split(".")[0] in body["error"]["message"]
    assert await _job_rows(system) == 0


async def test_missing_fields_are_all_named(system: System) -> None:
    # An empty object names every required field at once.
    status, body, _ = await system.call("POST", "/api/v2/jobs", json={})
    assert status == 422
    fields = {d["field"] for d in body["error"]["details"]}
    assert {"campaign_id", "prompt", "platform", "duration_s"} <= fields


async def test_not_json_and_too_large_bodies(system: System) -> None:
    # Malformed JSON is a 400, a body over 1 MiB a 413; the gateway keeps serving.
    status, body, _ = await system.call(
        "POST", "/api/v2/jobs", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400 and "JSON" in body["error"]["message"]
    big = {**VALID, "prompt": "x" * (1024 * 1024 + 10)}
    status, body, _ = await system.call("POST", "/api/v2/jobs", json=big)
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert await _job_rows(system) == 0
    status, _, _ = await system.call("POST", "/api/v2/jobs", json=VALID)
    assert status == 202


async def test_bad_refine_and_unknown_routes(system: System) -> None:
    # Feedback must be text; a wrong method or path still answers in JSON.
    job = await system.create_job()
    status, body, _ = await system.call(
        "POST", f"/api/v2/jobs/{job['id']}/scenes/1/refine", json={"feedback": ""}
    )
    assert status == 422 and body["error"]["details"][0]["field"] == "feedback"
    status, body, _ = await system.call("DELETE", f"/api/v2/jobs/{job['id']}")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"
    status, body, _ = await system.call("GET", "/api/v2/nothing-here")
    assert status == 404 and body["error"]["code"] == "not_found"
