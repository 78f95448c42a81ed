"""Services run as real processes (`python -m services.<name>`), for tests that kill them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shared.settings import Settings
from tests.support.nats_server import free_port

REPO = Path(__file__).resolve().parents[2]


class ServiceProcess:
    def __init__(self, name: str, settings: Settings, log_path: Path, **env: str) -> None:
        self.name = name
        self.log_path = log_path
        self.metrics_port = free_port()
        self.env = {
            **os.environ,
            "NATS_URL": settings.nats_url,
            "VIDEO_STORAGE_PATH": str(settings.video_storage_path),
            "METRICS_PORT": str(self.metrics_port),
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout_s: float = 20) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode if self.proc else None
