"""Shared start-up code of the benchmarks: the real system as separate processes.

`running_system(args)` runs `python -m deploy.run_local` (the launcher behind `make run`) with a
fresh data directory and free ports, waits for its `export TOKEN=...` banner line, yields the
gateway URL and client token, and on exit sends the launcher SIGINT (it stops the five services,
then nats-server) and waits for it. With `--url` and `--token` it benches a system that is
already running instead and starts nothing.

Example::

    parser = argparse.ArgumentParser()
    add_system_arguments(parser)
    async with running_system(parser.parse_args()) as system:
        print(system.url, system.token)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TOKEN_LINE = re.compile(r"export TOKEN=(\S+)")
PORT_VARIABLES = (
    "GATEWAY_PORT",
    "NATS_PORT",
    "NATS_MONITOR_PORT",
    "STORYBOARD_METRICS_PORT",
    "RENDERER_METRICS_PORT",
    "ASSETS_METRICS_PORT",
    "BILLING_METRICS_PORT",
    "STORYBOARD_REPLICA_METRICS_PORT",
)
# Inherited values that would point the launched system somewhere else.
DROPPED_VARIABLES = ("JWT_SECRET", "NATS_URL", "VIDEO_STORAGE_PATH", "DATABASE_PATH")
DEFAULT_FRAME_DIVISOR = 20
# As deployed: the storyboard Deployment's minimum (deploy/k8s/base/storyboard.yaml), each
# worker a process of its own (one core each at most: Python's GIL).
DEFAULT_STORYBOARD_REPLICAS = 2
TIKTOK_SIZE = (1080, 1920)
POLL_S = 0.2
STOP_TIMEOUT_S = 45.0
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class System:
    url: str
    token: str
    frame_divisor: int | None
    data_dir: Path | None = None
    nats_url: str | None = None  # a launched system's nats-server


def add_system_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", help="bench an already running gateway (e.g. http://127.0.0.1:8080)"
    )
    parser.add_argument("--token", help="client bearer token for --url")
    parser.add_argument(
        "--frame-divisor",
        type=int,
        default=None,
        help=f"FRAME_SCALE_DIVISOR of the launched system (default {DEFAULT_FRAME_DIVISOR})",
    )
    parser.add_argument(
        "--storyboard-replicas",
        type=int,
        default=DEFAULT_STORYBOARD_REPLICAS,
        help="storyboard worker processes of the launched system (STORYBOARD_REPLICAS, default"
        f" {DEFAULT_STORYBOARD_REPLICAS}: the storyboard Deployment's minReplicas)",
    )
    parser.add_argument(
        "--startup-timeout", type=float, default=120.0, help="seconds to wait for the launcher"
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the temporary data dir (logs, databases)"
    )


def check_system_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if bool(args.url) != bool(args.token):
        parser.error("--url and --token go together")
    if args.frame_divisor is not None and args.frame_divisor < 1:
        parser.error("--frame-divisor must be >= 1")
    if args.storyboard_replicas < 1:
        parser.error("--storyboard-replicas must be >= 1")


def frame_size(divisor: int | None) -> str:
    """The storyboard frame size of a 9:16 (tiktok) job, as the storyboard service computes it."""
    if divisor is None:
        return "unknown (external system)"
    width, height = (max(16, side // divisor) for side in TIKTOK_SIZE)
    return f"{width}x{height} (divisor {divisor})"


def free_ports(count: int) -> list[int]:
    """Distinct ports the kernel considers free (all held open until every one is picked)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def _die_with_parent() -> None:
    """Runs in the launcher before exec: if this benchmark is killed, the launcher gets SIGTERM
    (which it handles like Ctrl-C, stopping everything it started)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no launcher output)"


class Launcher:
    """One `python -m deploy.run_local` process and its temporary data directory."""

    def __init__(
        self,
        frame_divisor: int,
        keep_data: bool,
        extra_env: dict[str, str] | None = None,
        storyboard_replicas: int = DEFAULT_STORYBOARD_REPLICAS,
    ) -> None:
        self.frame_divisor = frame_divisor
        self.storyboard_replicas = storyboard_replicas
        self.keep_data = keep_data
        self.extra_env = dict(extra_env or {})
        self.data_dir = Path(tempfile.mkdtemp(prefix="reelsmith-bench-"))
        self.log_path = self.data_dir / "launcher.log"
        self.ports = dict(zip(PORT_VARIABLES, free_ports(len(PORT_VARIABLES)), strict=True))
        self.process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in DROPPED_VARIABLES}
        env.update({name: str(port) for name, port in self.ports.items()})
        env.update(
            REELSMITH_DATA_DIR=str(self.data_dir),
            FRAME_SCALE_DIVISOR=str(self.frame_divisor),
            STORYBOARD_REPLICAS=str(self.storyboard_replicas),
            GENERATION_BACKEND="local",
            LOG_LEVEL="WARNING",
            # One client sends every brief at once: lift the per-client back-pressure.
            JOB_RATE_PER_MINUTE="100000",
            JOB_RATE_BURST="10000",
            MAX_QUEUED_JOBS_PER_CLIENT="10000",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            # Own process group: a Ctrl-C on the benchmark reaches the launcher only through
            # `stop`, after the benchmark has let go of its connections.
            self.process = subprocess.Popen(
                [sys.executable, "-m", "deploy.run_local"],
                cwd=REPO_ROOT,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=_die_with_parent,
            )

    async def wait_token(self) -> str:
        """The client token of the launcher's banner (poll its output; bound it by the caller)."""
        assert self.process is not None
        while True:
            text = self.log_path.read_text(errors="replace")
            if match := TOKEN_LINE.search(text):
                return match.group(1)
            if (code := self.process.poll()) is not None:
                raise RuntimeError(
                    f"launcher exited with code {code} before it was ready; its output:\n"
                    + _log_tail(self.log_path)
                )
            await asyncio.sleep(POLL_S)

    async def stop(self) -> None:
        """SIGINT, like Ctrl-C on `make run`; SIGKILL only if it hangs past the timeout."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print("bench: launcher ignored SIGINT, killing it", file=sys.stderr, flush=True)
                process.kill()
                process.wait()
        if self.keep_data:
            print(f"bench: data kept in {self.data_dir}", file=sys.stderr, flush=True)
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def running_system(
    args: argparse.Namespace, extra_env: dict[str, str] | None = None
) -> AsyncIterator[System]:
    """The system to bench; `extra_env` is added to a launched system's environment (e.g.
    where to export traces), and ignored with `--url`."""
    if args.url:
        yield System(url=args.url.rstrip("/"), token=args.token, frame_divisor=args.frame_divisor)
        return
    divisor = args.frame_divisor or DEFAULT_FRAME_DIVISOR
    launcher = Launcher(divisor, args.keep_data, extra_env, args.storyboard_replicas)
    try:
        launcher.start()
        print(f"bench: starting the system (data in {launcher.data_dir})", flush=True)
        try:
            async with asyncio.timeout(args.startup_timeout):
                token = await launcher.wait_token()
        except TimeoutError:
            raise TimeoutError(
                f"launcher not ready after {args.startup_timeout:.0f} s; its output:\n"
                + _log_tail(launcher.log_path)
            ) from None
        url = f"http://127.0.0.1:{launcher.ports['GATEWAY_PORT']}"
        yield System(
            url=url,
            token=token,
            frame_divisor=divisor,
            data_dir=launcher.data_dir,
            nats_url=f"nats://127.0.0.1:{launcher.ports['NATS_PORT']}",
        )
    finally:
        await launcher.stop()


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]
