"""End-to-end smoke test of `python -m deploy.run_local` (what `make run` starts)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKERS = ("storyboard", "renderer", "assets", "billing")
STARTUP_S = 60.0
SHUTDOWN_S = 30.0


def free_ports(count: int) -> list[int]:
    # All sockets stay open until every port is picked, so the ports are distinct.
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_for_banner(output: Path, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        text = output.read_text(errors="replace")
        if "Bearer" in text:
            return text
        if proc.poll() is not None:
            pytest.fail(f"launcher exited with {proc.returncode}:\n{text[-4000:]}")
        time.sleep(0.2)
    pytest.fail(f"no token line within {STARTUP_S:.0f} s:\n{output.read_text()[-4000:]}")


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10.0) as response:
        return int(response.status), bytes(response.read())


def launcher_env(tmp_path: Path, ports: list[int]) -> dict[str, str]:
    """The launcher's environment on `ports` (gateway, nats, monitor, then one per worker)."""
    gateway, nats, monitor, *metrics = ports
    env = dict(os.environ)
    for name in ("JWT_SECRET", "NATS_URL", "DATABASE_PATH", "VIDEO_STORAGE_PATH"):
        env.pop(name, None)
    env |= {
        "REELSMITH_DATA_DIR": str(tmp_path / "data"),
        "GATEWAY_PORT": str(gateway),
        "NATS_PORT": str(nats),
        "NATS_MONITOR_PORT": str(monitor),
        "GENERATION_BACKEND": "local",
    }
    env |= {f"{w.upper()}_METRICS_PORT": str(p) for w, p in zip(WORKERS, metrics, strict=True)}
    return env


def start_launcher(env: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    # Its own session, so a failed test can kill everything it started.
    with output.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "deploy.run_local"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.mark.timeout(STARTUP_S + SHUTDOWN_S + 60)
def test_launcher_starts_serves_and_stops_cleanly(tmp_path: Path) -> None:
    # Free ports for everything the launcher binds, so the test never collides with `make run`.
    gateway, nats, monitor, *metrics = ports = free_ports(3 + len(WORKERS))
    output = tmp_path / "launcher.out"
    proc = start_launcher(launcher_env(tmp_path, ports), output)
    try:
        # Wait for the banner and take the client token from it.
        text = wait_for_banner(output, proc)
        match = re.search(r"export TOKEN=(\S+)", text)
        assert match, text[-4000:]
        token = match.group(1)

        # The gateway accepts the dev token and lists (no) jobs.
        status, body = get(f"http://127.0.0.1:{gateway}/api/v2/jobs", token)
        assert status == 200
        assert "items" in json.loads(body)

        # Every worker answers its health check on the configured metrics port.
        for port in metrics:
            assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200

        # Ctrl-C stops everything and the launcher exits 0.
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=SHUTDOWN_S) == 0, output.read_text()[-4000:]

        # No orphans: nothing listens on the ports any more.
        for port in (gateway, nats, monitor, *metrics):
            assert not listening(port), f"port {port} still open"
    finally:
        # Only reached with a live launcher when an assertion failed above.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def consumed(metrics_port: int, subject: str) -> float:
    """The worker's `reelsmith_events_consumed_total` for `subject`, acknowledged."""
    text = get(f"http://127.0.0.1:{metrics_port}/metrics")[1].decode()
    pattern = (
        rf'reelsmith_events_consumed_total{{[^}}]*subject="{re.escape(subject)}"[^}}]*}} (\S+)'
    )
    return sum(float(value) for value in re.findall(pattern, text))


@pytest.mark.timeout(STARTUP_S + SHUTDOWN_S + 120)
def test_storyboard_replicas_share_the_briefs(tmp_path: Path) -> None:
    # Two storyboard workers (STORYBOARD_REPLICAS=2), one brief at a time each: both take
    # briefs from the one durable consumer, and every brief is drawn once.
    *ports, replica_port = free_ports(4 + len(WORKERS))
    env = launcher_env(tmp_path, ports)
    env |= {
        "STORYBOARD_REPLICAS": "2",
        "STORYBOARD_REPLICA_METRICS_PORT": str(replica_port),
        "STORYBOARD_CONCURRENCY": "1",
    }
    gateway, storyboard_port = ports[0], ports[3]
    output = tmp_path / "launcher.out"
    proc = start_launcher(env, output)
    try:
        text = wait_for_banner(output, proc)
        match = re.search(r"export TOKEN=(\S+)", text)
        assert match, text[-4000:]
        token = match.group(1)
        assert get(f"http://127.0.0.1:{replica_port}/healthz")[0] == 200

        jobs = []
        for index in range(8):
            brief = {
                "campaign_id": "replicas",
                "prompt": f"Launch ad for Zeno{index}, a bottle that keeps drinks cold 24 hours",
                "platform": "tiktok",
                "duration_s": 15,
            }
            request = urllib.request.Request(
                f"http://127.0.0.1:{gateway}/api/v2/jobs",
                data=json.dumps(brief).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10.0) as response:
                jobs.append(json.loads(response.read())["id"])

        deadline = time.monotonic() + 90.0
        pending = set(jobs)
        while pending and time.monotonic() < deadline:
            for job in list(pending):
                status = json.loads(get(f"http://127.0.0.1:{gateway}/api/v2/jobs/{job}", token)[1])
                assert status["status"] != "failed", status
                if status["status"] == "storyboard_ready":
                    pending.discard(job)
            time.sleep(0.2)
        assert not pending, f"not storyboard_ready after 90 s: {pending}"

        subject = "jobs.storyboard.requested"
        first, second = consumed(storyboard_port, subject), consumed(replica_port, subject)
        assert first > 0 and second > 0, (first, second)
        assert first + second == len(jobs)

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=SHUTDOWN_S) == 0, output.read_text()[-4000:]
        assert not listening(replica_port)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
