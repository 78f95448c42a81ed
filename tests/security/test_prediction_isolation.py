"""Clients never share a paid prediction: when several clients send the same brief and the
provider loses create answers (a 5xx after which the backend looks for the prediction it
may have made), every job still follows predictions of its own, never another client's
(whose output, cost and failure would become this job's)."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

import aiohttp
import pytest

from tests.support.api import Api
from tests.support.replicate_backend import replicate_env, started_fake
from tests.support.stack import Stack
from tools.fake_replicate import Faults

CLIENTS = 6
BRIEF: dict[str, Any] = {
    "campaign_id": "same-brief",
    "prompt": "Introducing Glow Serum. Brightens skin in 7 days. Vegan.",
    "platform": "tiktok",
    "duration_s": 5,
}


@pytest.mark.timeout(120)
async def test_identical_briefs_of_different_clients_share_no_prediction(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    async with started_fake(latency_scale=0.01) as fake:
        stack.add_all(**replicate_env(fake))
        stack.start()
        await stack.ready()
        api = stack.api(http)

        # Six clients send the very same brief while half of all creates answer 503.
        fake.set_faults(Faults(create_5xx_fraction=0.5))
        jobs = await asyncio.gather(*(_submit(api, f"client-{n}") for n in range(CLIENTS)))
        await asyncio.gather(
            *(_through_render(api, job["id"], f"client-{n}") for n, job in enumerate(jobs))
        )
        recovered = fake.stats()["faults_injected"]

    # Every prediction a job followed belongs to that job alone.
    followed: dict[str, set[str]] = defaultdict(set)
    for line in stack.logs().values():
        for entry in _events(line, "replicate.prediction_created"):
            followed[entry["prediction_id"]].add(entry["job_id"])
    shared = {pid: sorted(owners) for pid, owners in followed.items() if len(owners) > 1}
    assert sum(recovered.values()) > 0 and followed
    assert shared == {}, f"predictions followed by several jobs: {shared}"


async def _submit(api: Api, client: str) -> dict[str, Any]:
    # A paid job reserves its budget through billing, which may still be starting.
    for _ in range(100):
        status, body = await api.call("POST", "/api/v2/jobs", client, json=BRIEF)
        if status == 202:
            return body  # type: ignore[no-any-return]
        assert status == 503, body
        await asyncio.sleep(0.2)
    raise AssertionError("billing never answered")


async def _through_render(api: Api, job_id: str, client: str) -> dict[str, Any]:
    job = await api.wait_status(job_id, "storyboard_ready", "failed", client_id=client)
    if job["status"] == "failed":
        return job
    await api.approve(job_id, client)
    await api.render(job_id, client)
    return await api.wait_final(job_id, client_id=client, timeout_s=90)


def _events(log: str, name: str) -> list[dict[str, Any]]:
    found = []
    for line in log.splitlines():
        if f'"event":"{name}"' in line:
            found.append(json.loads(line))
    return found
