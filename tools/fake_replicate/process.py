"""The fake as a child process (`python -m tools.fake_replicate`), for tests that need it out
of their event loop, `make run` and benchmarks. Drive it with the `/_fake/...` endpoints."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]


class FakeProcess:
    """Example:
    with FakeProcess(token="r8_dev", latency_scale=0.05) as fake:
        httpx.post(f"{fake.base_url}/_fake/faults", json={"get_429_fraction": 0.1})
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "r8_dev",
        latency_scale: float = 0.05,
        resolution_divisor: int = 1,
        output_ttl_s: float = 3600.0,
        seed: int = 1,
        faults: dict[str, Any] | None = None,
        log: IO[bytes] | None = None,
    ) -> None:
        self.args = [
            sys.executable,
            "-m",
            "tools.fake_replicate",
            f"--host={host}",
            f"--port={port}",
            f"--token={token}",
            f"--latency-scale={latency_scale}",
            f"--resolution-divisor={resolution_divisor}",
            f"--output-ttl={output_ttl_s}",
            f"--seed={seed}",
            f"--faults={json.dumps(faults or {})}",
        ]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    def start(self, timeout_s: float = 20.0) -> str:
        """Start it and wait for the base URL it prints."""
        self.proc = subprocess.Popen(
            self.args,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=self.log if self.log is not None else subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fake Replicate exited with {self.proc.returncode}")
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                self.base_url = self.proc.stdout.readline().decode().strip()
                return self.base_url
        self.stop()
        raise TimeoutError(f"fake Replicate printed no base URL within {timeout_s}s")

    def stop(self, timeout_s: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout_s)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self) -> FakeProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
