"""A client of the gateway's HTTP API over loopback, for gateways run as processes."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from services.gateway.http.auth import issue_token
from tests.support.system import SECRET
from tests.support.waiting import eventually

BRIEF: dict[str, Any] = {
    "campaign_id": "spring-launch",
    "prompt": "Introducing Glow Serum. Brightens skin in 7 days. Vegan and cruelty free.",
    "platform": "tiktok",
    "duration_s": 15,
    "brand": {"colors": ["#ff3366", "#1a1a2e"], "tone": "playful"},
}
RUNNING = ("queued", "storyboarding", "refining", "rendering")
FINAL = ("completed", "failed", "canceled")


class Api:
    def __init__(self, base_url: str, http: aiohttp.ClientSession, secret: str = SECRET) -> None:
        self.base_url = base_url
        self.http = http
        self.secret = secret

    def auth(self, client_id: str = "client-a", role: str = "client") -> dict[str, str]:
        token = issue_token(self.secret, client_id, role)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        method: str,
        path: str,
        client_id: str = "client-a",
        role: str = "client",
        **kwargs: Any,
    ) -> tuple[int, Any]:
        headers = {**self.auth(client_id, role), **kwargs.pop("headers", {})}
        timeout = aiohttp.ClientTimeout(total=kwargs.pop("timeout_s", 30))
        async with self.http.request(
            method, self.base_url + path, headers=headers, timeout=timeout, **kwargs
        ) as response:
            body = await response.read()
            if response.content_type == "application/json" and body:
                return response.status, json.loads(body)
            return response.status, body

    async def create_job(self, client_id: str = "client-a", **fields: Any) -> dict[str, Any]:
        status, body = await self.call("POST", "/api/v2/jobs", client_id, json={**BRIEF, **fields})
        assert status == 202, body
        return body  # type: ignore[no-any-return]

    async def job(self, job_id: str, client_id: str = "client-a") -> dict[str, Any]:
        status, body = await self.call("GET", f"/api/v2/jobs/{job_id}", client_id)
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    async def try_job(self, job_id: str, client_id: str = "client-a") -> dict[str, Any] | None:
        """The job, or None while the gateway does not answer (it is down or restarting)."""
        try:
            status, body = await self.call("GET", f"/api/v2/jobs/{job_id}", client_id, timeout_s=2)
        except (aiohttp.ClientError, TimeoutError):
            return None
        return body if status == 200 else None  # type: ignore[no-any-return]

    async def wait_status(
        self, job_id: str, *statuses: str, client_id: str = "client-a", timeout_s: float = 60
    ) -> dict[str, Any]:
        """Poll until the job is in one of `statuses` (a final state other than those fails)."""

        def reached(job: dict[str, Any] | None) -> bool:
            if job is None:
                return False
            if job["status"] in FINAL and job["status"] not in statuses:
                raise AssertionError(f"job {job_id} ended {job['status']}: {job}")
            return job["status"] in statuses

        job = await eventually(
            lambda: self.try_job(job_id, client_id), reached, timeout_s=timeout_s, interval_s=0.2
        )
        assert job is not None
        return job

    async def wait_final(
        self, job_id: str, client_id: str = "client-a", timeout_s: float = 60
    ) -> dict[str, Any]:
        return await self.wait_status(job_id, *FINAL, client_id=client_id, timeout_s=timeout_s)

    async def follow(
        self, job_id: str, *statuses: str, client_id: str = "client-a", timeout_s: float = 120
    ) -> dict[str, Any]:
        """Read the job's server-sent events until it is in one of `statuses` or final
        (one connection per job instead of polls: for runs with hundreds of jobs)."""
        url = f"{self.base_url}/api/v2/jobs/{job_id}/events"
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with self.http.get(url, headers=self.auth(client_id), timeout=timeout) as response:
            assert response.status == 200, await response.text()
            job: dict[str, Any] = {}
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data:"):
                    job = json.loads(line[5:])
                    if job["status"] in statuses or job["status"] in FINAL:
                        return job
        return job

    async def approve(self, job_id: str, client_id: str = "client-a") -> dict[str, Any]:
        status, body = await self.call("POST", f"/api/v2/jobs/{job_id}/approve", client_id)
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    async def render(self, job_id: str, client_id: str = "client-a") -> dict[str, Any]:
        status, body = await self.call("POST", f"/api/v2/jobs/{job_id}/render", client_id)
        assert status == 202, body
        return body  # type: ignore[no-any-return]

    async def run_to_render(
        self, job_id: str, client_id: str = "client-a", timeout_s: float = 60
    ) -> None:
        """Storyboard ready → approve → render requested."""
        await self.wait_status(job_id, "storyboard_ready", client_id=client_id, timeout_s=timeout_s)
        await self.approve(job_id, client_id)
        await self.render(job_id, client_id)
