"""The whole system as real processes: every service (`python -m services.<name>`) on one
nats-server, each with its own database, one shared storage root, logs in `root/logs`.
For tests that kill, pause and restart services (the in-process `system` fixture cannot).

Example::

    stack = Stack(nats.url, tmp_path)
    stack.add("gateway"); stack.add("storyboard"); stack.add("renderer", replicas=2)
    stack.start()
    await stack.ready()
    api = stack.api(http)
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import aiohttp

from tests.support.api import Api
from tests.support.nats_server import free_port
from tests.support.processes import ServiceProcess
from tests.support.system import SECRET, settings_for
from tests.support.waiting import eventually

SERVICES = ("gateway", "storyboard", "renderer", "assets", "billing")
DATABASES = {"gateway": "app.db", "assets": "assets.db", "billing": "billing.db"}
# Small frames and videos, a short ack wait: fault tests measure recovery, not encoding.
FAST = {
    "FRAME_SCALE_DIVISOR": "10",
    "RENDER_SCALE_DIVISOR": "10",
    "CONSUMER_ACK_WAIT_S": "5",
}


class Stack:
    def __init__(self, nats_url: str, root: Path, secret: str = SECRET, **env: str) -> None:
        self.root = root
        self.secret = secret
        self.nats_url = nats_url
        self.settings = settings_for(nats_url, root)
        self.gateway_port = free_port()
        (root / "logs").mkdir(parents=True, exist_ok=True)
        self.common = {
            "JWT_SECRET": secret,
            "GATEWAY_PORT": str(self.gateway_port),
            "PYTHONUNBUFFERED": "1",
            "C2PA_SIGNING_CERT": str(self.settings.c2pa_signing_cert),
            "C2PA_SIGNING_KEY": str(self.settings.c2pa_signing_key),
            **FAST,
            **env,
        }
        self.services: dict[str, list[ServiceProcess]] = {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def storage(self) -> Path:
        return Path(self.settings.video_storage_path)

    def database(self, service: str) -> Path:
        return self.root / DATABASES[service]

    def add(self, name: str, replicas: int = 1, **env: str) -> list[ServiceProcess]:
        """Declare `replicas` processes of service `name` (started by `start`)."""
        extra = {"DATABASE_PATH": str(self.database(name))} if name in DATABASES else {}
        added = []
        for _ in range(replicas):
            n = len(self.services.get(name, [])) + 1
            log = self.root / "logs" / f"{name}-{n}.log"
            process = ServiceProcess(name, self.settings, log, **{**self.common, **extra, **env})
            self.services.setdefault(name, []).append(process)
            added.append(process)
        return added

    def add_all(self, **env: str) -> None:
        for name in SERVICES:
            self.add(name, **env)

    def start(self) -> None:
        for processes in self.services.values():
            for process in processes:
                if process.proc is None or process.proc.poll() is not None:
                    process.start()

    def all(self) -> list[ServiceProcess]:
        return [p for processes in self.services.values() for p in processes]

    def one(self, name: str) -> ServiceProcess:
        return self.services[name][0]

    def health_url(self, process: ServiceProcess) -> str:
        if process.name == "gateway":
            return f"{self.base_url}/readyz"
        return f"http://127.0.0.1:{process.metrics_port}/readyz"

    def metrics_url(self, process: ServiceProcess) -> str:
        # Every process, the gateway too, is given METRICS_PORT and scraped there.
        return f"http://127.0.0.1:{process.metrics_port}/metrics"

    async def ready(self, *processes: ServiceProcess, timeout_s: float = 40) -> None:
        """Wait until every (or every named) process answers its readiness probe."""
        async with aiohttp.ClientSession() as http:
            for process in processes or tuple(self.all()):
                await eventually(
                    lambda p=process: _ready(http, self.health_url(p), p),
                    timeout_s=timeout_s,
                    interval_s=0.1,
                )

    def api(self, http: aiohttp.ClientSession) -> Api:
        return Api(self.base_url, http, self.secret)

    def pause(self, process: ServiceProcess) -> None:
        assert process.proc is not None
        process.proc.send_signal(signal.SIGSTOP)

    def resume(self, process: ServiceProcess) -> None:
        assert process.proc is not None
        process.proc.send_signal(signal.SIGCONT)

    def logs(self) -> dict[str, str]:
        return {p.log_path.name: p.log() for p in self.all()}

    def stop(self, timeout_s: float = 30) -> dict[str, int | None]:
        """SIGTERM everything (SIGKILL after the grace); the exit codes by log name."""
        running = [p.proc for p in self.all() if p.proc is not None and p.proc.poll() is None]
        for proc in running:
            # A paused process never sees SIGTERM; all are told at once (once: a second
            # SIGTERM after a clean shutdown would kill the process), then waited for.
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
        deadline = time.monotonic() + timeout_s
        for proc in running:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        return {p.log_path.name: p.proc.returncode if p.proc else None for p in self.all()}


async def _ready(http: aiohttp.ClientSession, url: str, process: ServiceProcess) -> bool:
    if process.proc is not None and process.proc.poll() is not None:
        raise AssertionError(
            f"{process.name} exited with {process.proc.returncode}:\n{process.log()[-3000:]}"
        )
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
            return response.status == 200
    except (TimeoutError, aiohttp.ClientError):
        return False
