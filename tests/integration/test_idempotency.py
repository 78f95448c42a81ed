"""`Idempotency-Key`: a repeated request answers with the first response instead of doing
the work twice; the same key with another request is 409; keys are per client, released
when the request was refused, forgotten after they expire; a request racing the first one
with its key is told the first is still in progress."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from shared.events import JobCreated, RenderRequested
from tests.integration.test_storyboard_failures import png
from tests.support.nats_server import NatsServer
from tests.support.system import System, running_system
from tests.support.waiting import eventually

BRIEF = {
    "campaign_id": "spring",
    "prompt": "Introducing Glow Serum. Brightens skin in 7 days.",
    "platform": "tiktok",
    "duration_s": 10,
}


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def jobs_of(system: System, client_id: str = "client-a") -> list[str]:
    rows = await system.db.fetchall(
        "SELECT id FROM generated_videos WHERE client_id = ?", (client_id,)
    )
    return [row["id"] for row in rows]


async def outbox(system: System, subject: str) -> list[dict[str, Any]]:
    rows = await system.db.fetchall("SELECT payload FROM outbox WHERE subject = ?", (subject,))
    return [orjson.loads(row["payload"]) for row in rows]


async def test_a_repeated_brief_is_answered_with_the_first_job(system: System) -> None:
    # The client sends a brief, then (say, after a timeout) sends it again, same key.
    first, body, answer = await system.call("POST", "/api/v2/jobs", json=BRIEF, headers=keyed("k1"))
    assert first == 202 and "Idempotent-Replayed" not in answer.headers
    again, replayed, repeat = await system.call(
        "POST", "/api/v2/jobs", json=BRIEF, headers=keyed("k1")
    )

    # The second answer is the first one: same job, same status and Location, marked.
    assert again == 202
    assert replayed == body
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert repeat.headers["Location"] == answer.headers["Location"] == f"/api/v2/jobs/{body['id']}"
    # One job exists and one brief went out.
    assert await jobs_of(system) == [body["id"]]
    assert [e["job_id"] for e in await outbox(system, JobCreated.subject)] == [body["id"]]


async def test_the_same_key_for_another_request_is_refused(system: System) -> None:
    status, body, _ = await system.call("POST", "/api/v2/jobs", json=BRIEF, headers=keyed("k2"))
    assert status == 202

    # Another brief under the same key: 409, nothing created.
    other = {**BRIEF, "prompt": "A different product altogether."}
    status, error, _ = await system.call("POST", "/api/v2/jobs", json=other, headers=keyed("k2"))
    assert status == 409 and error["error"]["code"] == "idempotency_key_reused"
    # The same key on another endpoint is another request too.
    status, error, _ = await system.call(
        "POST", f"/api/v2/jobs/{body['id']}/render", headers=keyed("k2")
    )
    assert status == 409 and error["error"]["code"] == "idempotency_key_reused"
    assert await jobs_of(system) == [body["id"]]


async def test_keys_belong_to_one_client(system: System) -> None:
    # Two clients happen to pick the same key: each gets its own job.
    _, mine, _ = await system.call("POST", "/api/v2/jobs", json=BRIEF, headers=keyed("k3"))
    _, theirs, _ = await system.call(
        "POST", "/api/v2/jobs", client_id="client-b", json=BRIEF, headers=keyed("k3")
    )
    assert mine["id"] != theirs["id"]
    assert await jobs_of(system, "client-b") == [theirs["id"]]


async def test_a_refused_request_does_not_use_up_its_key(system: System) -> None:
    # A brief that fails validation writes nothing and leaves the key free ...
    bad = {**BRIEF, "duration_s": 600}
    status, _, _ = await system.call("POST", "/api/v2/jobs", json=bad, headers=keyed("k4"))
    assert status == 422
    assert await system.db.fetchone("SELECT 1 FROM idempotency_keys") is None

    # ... so the corrected brief goes through under the same key, and is then remembered.
    status, body, _ = await system.call("POST", "/api/v2/jobs", json=BRIEF, headers=keyed("k4"))
    assert status == 202
    status, again, _ = await system.call("POST", "/api/v2/jobs", json=BRIEF, headers=keyed("k4"))
    assert status == 202 and again["id"] == body["id"]


async def test_an_expired_key_is_forgotten(system: System) -> None:
    _, first, _ = await system.call("POST", "/api/v2/jobs", json=BRIEF, headers=keyed("k5"))
    # A day later (the key's expiry is moved into the past) ...
    async with system.db.transaction() as tx:
        await tx.execute("UPDATE idempotency_keys SET expires_at = '2000-01-01T00:00:00.000Z'")
    # ... the same key starts a new job.
    status, second, _ = await system.call("POST", "/api/v2/jobs", json=BRIEF, headers=keyed("k5"))
    assert status == 202 and second["id"] != first["id"]
    assert sorted(await jobs_of(system)) == sorted([first["id"], second["id"]])


async def test_a_repeated_render_is_sent_once(system: System) -> None:
    job = await system.approved_job()
    path = f"/api/v2/jobs/{job['id']}/render"
    first, body, _ = await system.call("POST", path, headers=keyed("r1"))
    # Without the key a second render would be 409 (already rendering); with it, the first
    # answer comes back.
    again, replayed, answer = await system.call("POST", path, headers=keyed("r1"))
    assert (first, again) == (202, 202)
    assert replayed == body and answer.headers["Idempotent-Replayed"] == "true"
    assert len(await outbox(system, RenderRequested.subject)) == 1


async def test_a_malformed_key_is_refused(system: System) -> None:
    for key in ("x" * 256, "with space"):
        status, body, _ = await system.call("POST", "/api/v2/jobs", json=BRIEF, headers=keyed(key))
        assert status == 400 and "Idempotency-Key" in body["error"]["message"]
    assert await jobs_of(system) == []


async def test_a_repeated_upload_is_stored_once(system: System) -> None:
    image = png((200, 40, 40))
    # The first upload waits for the assets service to be up; the key is released by 503s.
    status, first = await eventually(
        lambda: _upload(system, image, "u1"), lambda answer: answer[0] != 503
    )
    assert status == 201, first

    # The same file again (new multipart boundary, new file name even): the same asset.
    status, again = await _upload(system, image, "u1", filename="again.png")
    assert status == 201 and again == first

    # Another file under the same key: 409, and the client still has one asset.
    status, error = await _upload(system, png((10, 200, 10)), "u1")
    assert status == 409 and error["error"]["code"] == "idempotency_key_reused"
    _, page, _ = await system.call("GET", "/api/v2/assets")
    assert [a["asset_id"] for a in page["items"]] == [first["asset_id"]]


async def test_a_request_racing_the_first_with_its_key_is_told_to_wait(system: System) -> None:
    image = png((90, 90, 200))
    await eventually(lambda: _upload(system, image, "warm-up"), lambda a: a[0] == 201)

    # A slow upload is under way: its first bytes are sent, the rest is held back.
    release = asyncio.Event()
    boundary = "reelsmith-test-boundary"
    first = asyncio.create_task(
        system.call(
            "POST",
            "/api/v2/upload-asset",
            data=_held_back(image, boundary, release),
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                **keyed("u2"),
            },
        )
    )
    await eventually(lambda: _key_state(system, "u2"), lambda state: state == "in_progress")

    # The same request again meanwhile: 409 in progress, to be retried after a second.
    form = aiohttp.FormData()
    form.add_field("file", image, filename="product.png", content_type="image/png")
    status, body, answer = await system.call(
        "POST", "/api/v2/upload-asset", data=form, headers=keyed("u2")
    )
    assert status == 409 and body["error"]["code"] == "idempotency_key_in_progress"
    assert answer.headers["Retry-After"] == "1"

    # The first finishes; now the repeat gets its answer.
    release.set()
    status, created, _ = await first
    assert status == 201
    status, again = await _upload(system, image, "u2")
    assert status == 201 and again["asset_id"] == created["asset_id"]


async def test_an_upload_that_could_not_be_stored_frees_its_key(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # Without an assets service an upload is refused (503) and its key released at once.
    async with running_system(nats_server.url, tmp_path, assets_workers=0) as system:
        status, body = await _upload(system, png((1, 2, 3)), "u3")
        assert status == 503, body
        assert await _key_state(system, "u3") is None


async def _upload(
    system: System, data: bytes, key: str, filename: str = "product.png"
) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type="image/png")
    status, body, _ = await system.call(
        "POST", "/api/v2/upload-asset", data=form, headers=keyed(key)
    )
    return status, body


async def _held_back(data: bytes, boundary: str, release: asyncio.Event) -> AsyncIterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file";'
        ' filename="slow.png"\r\nContent-Type: image/png\r\n\r\n'
    ).encode() + data[:16]
    await release.wait()
    yield data[16:] + f"\r\n--{boundary}--\r\n".encode()


async def _key_state(system: System, key: str) -> str | None:
    row = await system.db.fetchone("SELECT state FROM idempotency_keys WHERE key = ?", (key,))
    return row["state"] if row else None
