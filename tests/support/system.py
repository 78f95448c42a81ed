"""The system under test: the real gateway app on a loopback port and a storyboard
worker, both on a real nats-server, with a fresh SQLite file and storage per test."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import nats
import nats.js.errors
from aiohttp import web

from services.assets.__main__ import serve as serve_assets
from services.gateway.app import init_app
from services.gateway.appkeys import BUS, DB, RELAY
from services.gateway.http.auth import issue_token
from services.gateway.http.poll_lane import install_poll_lane
from services.renderer.__main__ import serve as serve_renderer
from services.storyboard.__main__ import serve as serve_storyboard
from shared.service import start_site
from shared.settings import Settings
from tests.support.waiting import eventually
from tools.dev_signing import DevChain, ensure_dev_chain

SECRET = "test-secret-that-is-long-enough-for-hs256"


@functools.cache
def signing_chain() -> DevChain:
    """One development C2PA chain per test session, in a folder removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="reelsmith-c2pa-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return ensure_dev_chain(folder)


def settings_for(nats_url: str, root: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "service_name": "test",
        "nats_url": nats_url,
        "video_storage_path": root / "storage",
        "database_path": root / "app.db",
        "jwt_secret": SECRET,
        "frame_scale_divisor": 10,
        "render_scale_divisor": 10,
        "consumer_ack_wait_s": 5.0,
        "metrics_port": 0,
        "c2pa_signing_cert": signing_chain().cert,
        "c2pa_signing_key": signing_chain().key,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class System:
    settings: Settings
    base_url: str
    http: aiohttp.ClientSession
    app: web.Application
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    worker_stops: list[asyncio.Event] = field(default_factory=list)

    def token(self, client_id: str = "client-a", role: str = "client") -> str:
        return issue_token(SECRET, client_id, role)  # type: ignore[arg-type]

    def auth(self, client_id: str = "client-a", role: str = "client") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(client_id, role)}"}

    async def call(
        self,
        method: str,
        path: str,
        client_id: str = "client-a",
        role: str = "client",
        **kwargs: Any,
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = {**self.auth(client_id, role), **kwargs.pop("headers", {})}
        async with self.http.request(method, self.base_url + path, headers=headers, **kwargs) as r:
            body = await r.read()
            if r.content_type == "application/json" and body:
                return r.status, await r.json(), r
            return r.status, body, r

    async def create_job(self, client_id: str = "client-a", **fields: Any) -> dict[str, Any]:
        brief = {
            "campaign_id": "spring-launch",
            "prompt": "Introducing Glow Serum. Brightens skin in 7 days. Vegan and cruelty free.",
            "platform": "tiktok",
            "duration_s": 15,
            "brand": {"colors": ["#ff3366", "#1a1a2e"], "tone": "playful"},
        }
        brief.update(fields)
        status, body, _ = await self.call("POST", "/api/v2/jobs", client_id, json=brief)
        assert status == 202, body
        return body  # type: ignore[no-any-return]

    async def approved_job(self, **fields: Any) -> dict[str, Any]:
        """A job whose storyboard is made and approved, ready to render."""
        job = await self.create_job(**fields)
        await self.wait_status(job["id"], "storyboard_ready")
        status, body, _ = await self.call("POST", f"/api/v2/jobs/{job['id']}/approve")
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    async def job(self, job_id: str, client_id: str = "client-a") -> dict[str, Any]:
        status, body, _ = await self.call("GET", f"/api/v2/jobs/{job_id}", client_id)
        assert status == 200, body
        return body  # type: ignore[no-any-return]

    async def wait_status(
        self, job_id: str, status: str, client_id: str = "client-a", timeout_s: float = 30
    ) -> dict[str, Any]:
        return await eventually(
            lambda: self.job(job_id, client_id),
            lambda job: job["status"] == status,
            timeout_s=timeout_s,
        )

    @property
    def bus(self):  # type: ignore[no-untyped-def]
        return self.app[BUS]

    @property
    def db(self):  # type: ignore[no-untyped-def]
        return self.app[DB]

    @property
    def relay(self):  # type: ignore[no-untyped-def]
        return self.app[RELAY]

    async def backlog(self, durable: str) -> int:
        """Messages the durable has not finished (pending + unacked); -1 until it exists."""
        try:
            info = await self.bus.js.consumer_info("JOBS", durable)
        except nats.js.errors.NotFoundError:
            return -1
        return int(info.num_pending + info.num_ack_pending)

    async def drained(self, *durables: str) -> None:
        """Wait until every named durable exists and has handled everything."""
        for durable in durables:
            await eventually(lambda d=durable: self.backlog(d), lambda n: n == 0)

    def start_storyboard_worker(self, **overrides: Any) -> None:
        self._start(serve_storyboard, "storyboard", overrides)

    def start_renderer_worker(self, **overrides: Any) -> None:
        self._start(serve_renderer, "renderer", overrides)

    def start_assets_worker(self, **overrides: Any) -> None:
        """The assets service, with its own database beside the gateway's."""
        database = self.settings.database_path.with_name("assets.db")
        self._start(serve_assets, "assets", {"database_path": database, **overrides})

    def _start(self, serve: Any, name: str, overrides: dict[str, Any]) -> None:
        settings = self.settings.model_copy(update={"service_name": name, **overrides})
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, stop, handle_signals=False))
        self.workers.append(task)
        self.worker_stops.append(stop)

    async def stop_workers(self) -> None:
        for stop in self.worker_stops:
            stop.set()
        for task in self.workers:
            await asyncio.wait_for(task, timeout=20)
        self.workers.clear()
        self.worker_stops.clear()


@contextlib.asynccontextmanager
async def running_system(
    nats_url: str,
    root: Path,
    storyboard_workers: int = 1,
    renderer_workers: int = 1,
    assets_workers: int = 1,
    **overrides: Any,
) -> AsyncIterator[System]:
    settings = settings_for(nats_url, root, **overrides)
    app = init_app(settings)
    runner, port = await start_site(app, "127.0.0.1", 0, install_poll_lane)
    http = aiohttp.ClientSession()
    system = System(settings=settings, base_url=f"http://127.0.0.1:{port}", http=http, app=app)
    for _ in range(storyboard_workers):
        system.start_storyboard_worker()
    for _ in range(renderer_workers):
        system.start_renderer_worker()
    for _ in range(assets_workers):
        system.start_assets_worker()
    try:
        yield system
    finally:
        await system.stop_workers()
        await http.close()
        await runner.cleanup()
        await delete_streams(nats_url)


def gateway_alone(
    nats_url: str, root: Path, **overrides: Any
) -> contextlib.AbstractAsyncContextManager[System]:
    """The gateway with no workers: jobs are accepted and cached, nothing works on them."""
    return running_system(
        nats_url, root, storyboard_workers=0, renderer_workers=0, assets_workers=0, **overrides
    )


async def delete_streams(nats_url: str) -> None:
    """Isolate tests that share one server: streams (and their consumers) go away."""
    with contextlib.suppress(Exception):
        nc = await asyncio.wait_for(nats.connect(nats_url), 5)
        js = nc.jetstream()
        for info in await js.streams_info():
            await js.delete_stream(info.config.name)
        await nc.close()
