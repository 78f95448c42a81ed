"""Back-pressure: job creation per client is rate limited (token bucket, 429 with
Retry-After), a client's queued work is bounded, oversized JSON is 413, and a refused
request writes nothing."""

from __future__ import annotations

from pathlib import Path

from services.gateway.http.admission import TokenBucket
from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system
from tests.support.waiting import eventually

BRIEF = {
    "campaign_id": "spring",
    "prompt": "Introducing Glow Serum. Brightens skin in 7 days.",
    "platform": "tiktok",
    "duration_s": 10,
}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_its_rate() -> None:
    # Three tokens, one back every two seconds.
    clock = Clock()
    bucket = TokenBucket(3, 0.5, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == 2.0  # empty: the next token is 2 s away
    clock.now += 1.5
    assert bucket.take() == 0.5
    clock.now += 0.5
    assert bucket.take() == 0.0
    # Idle long enough, it is full again, never fuller.
    clock.now += 60
    assert bucket.full and [bucket.take() for _ in range(4)][-1] > 0


async def count_rows(system: System, table: str) -> int:
    row = await system.db.fetchone(f"SELECT count(*) AS n FROM {table}")
    return int(row["n"])


async def test_job_creation_is_rate_limited_per_client(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # A bucket of 3 jobs, refilled at one a second.
    async with running_system(
        nats_server.url, tmp_path, job_rate_burst=3, job_rate_per_minute=60
    ) as system:
        for _ in range(3):
            await system.create_job()

        # The fourth in the same second is refused, with when to come back.
        status, body, answer = await system.call("POST", "/api/v2/jobs", json=BRIEF)
        assert status == 429
        assert body["error"]["code"] == "rate_limited"
        assert body["error"]["details"] == {"retry_after_s": 1}
        assert answer.headers["Retry-After"] == "1"
        assert await count_rows(system, "generated_videos") == 3

        # Another client has its own bucket.
        await system.create_job(client_id="client-b")

        # A token comes back within the second: the client's next brief is accepted.
        status, _, _ = await eventually(
            lambda: system.call("POST", "/api/v2/jobs", json=BRIEF),
            lambda answer: answer[0] == 202,
            timeout_s=5,
        )
        assert await count_rows(system, "generated_videos") == 5


async def test_queued_work_per_client_is_bounded(nats_server: NatsServer, tmp_path: Path) -> None:
    # No storyboard worker: jobs stay queued. Each client may have two waiting.
    async with running_system(
        nats_server.url, tmp_path, storyboard_workers=0, max_queued_jobs_per_client=2
    ) as system:
        first = await system.create_job()
        await system.create_job()

        status, body, answer = await system.call("POST", "/api/v2/jobs", json=BRIEF)
        assert status == 429 and body["error"]["code"] == "too_many_queued_jobs"
        assert body["error"]["details"] == {"queued": 2, "limit": 2}
        assert "Retry-After" in answer.headers
        assert await count_rows(system, "generated_videos") == 2
        # Other clients are not held up by this one.
        await system.create_job(client_id="client-b")

        # Once one of the two ends (here: canceled), there is room again.
        await system.call("POST", f"/api/v2/jobs/{first['id']}/cancel")
        await system.create_job()


async def test_oversized_or_invalid_json_writes_nothing(system: System) -> None:
    # A JSON body over 1 MiB is 413, with or without an idempotency key.
    huge = {**BRIEF, "prompt": "x" * (1024 * 1024)}
    for headers in ({}, {"Idempotency-Key": "big"}):
        status, body, _ = await system.call("POST", "/api/v2/jobs", json=huge, headers=headers)
        assert status == 413 and body["error"]["code"] == "payload_too_large"

    # Malformed and invalid briefs are refused before anything is written.
    status, _, _ = await system.call(
        "POST", "/api/v2/jobs", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400
    status, body, _ = await system.call("POST", "/api/v2/jobs", json={**BRIEF, "duration_s": 0})
    assert status == 422 and body["error"]["details"][0]["field"] == "duration_s"

    for table in ("generated_videos", "outbox", "idempotency_keys", "stage_requests"):
        assert await count_rows(system, table) == 0, table
