"""Local launcher behind `make run`: nats-server (unless NATS_URL answers) and the five services.

Once every service answers its health check it prints the gateway URL, dev tokens and a curl
example; Ctrl-C (or SIGTERM) stops the services first, then nats-server.

Example::

    GATEWAY_PORT=8081 python -m deploy.run_local
    STORYBOARD_REPLICAS=2 python -m deploy.run_local   # two storyboard workers
"""

from __future__ import annotations

import ctypes
import enum
import http.client
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import jwt

from tools.dev_signing import dev_signing_env

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("gateway", "storyboard", "renderer", "assets", "billing")
WORKER_METRICS_PORTS = {"storyboard": 9101, "renderer": 9102, "assets": 9103, "billing": 9104}
# More storyboard workers (STORYBOARD_REPLICAS): each is one process, held to one core by
# Python's GIL while it plans and draws; they share the JetStream consumer, as the pods of
# the storyboard Deployment do. The second answers on this port, the third on the next.
STORYBOARD_REPLICA_METRICS_PORT = 9111
DATABASES = {"gateway": "app.db", "assets": "assets.db", "billing": "billing.db"}
NATS_READY_S = 15.0
SERVICES_READY_S = 30.0
SERVICES_STOP_S = 15.0
NATS_STOP_S = 10.0
POLL_S = 0.1
SUPERVISE_S = 0.5
TOKEN_TTL_S = 30 * 24 * 3600
PR_SET_PDEATHSIG = 1


class Outcome(enum.Enum):
    READY = "ready"
    STOPPED = "stopped"
    DIED = "died"
    TIMEOUT = "timeout"


class StopSignal:
    """SIGINT/SIGTERM set a flag and wake `wait` through a self-pipe.

    A `threading.Event` set from a signal handler can deadlock if the signal lands while the
    main thread holds the event's lock inside `wait`; the wakeup fd has no such window.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._read, write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signum

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` s, returning early (True) once a stop signal has arrived."""
        if self.received is None:
            select.select([self._read], [], [], timeout)
            try:
                while os.read(self._read, 512):
                    pass
            except BlockingIOError:
                pass
        return self.received is not None


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def data_dir() -> Path:
    configured = os.environ.get("REELSMITH_DATA_DIR")
    path = Path(configured).expanduser().resolve() if configured else REPO_ROOT / "data"
    (path / "logs").mkdir(parents=True, exist_ok=True)
    return path


def jwt_secret(data: Path) -> str:
    if secret := os.environ.get("JWT_SECRET"):
        return secret
    path = data / ".jwt_secret"
    if path.exists() and (stored := path.read_text().strip()):
        return stored
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


def tcp_reachable(url: str) -> bool:
    parts = urlsplit(url.split(",")[0].strip())
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), 1.0):
            return True
    except (OSError, ValueError):
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):
        return False


def die_with_parent() -> None:
    """Runs in the child before exec: if the launcher is SIGKILLed, its children get SIGTERM."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def find_nats_server() -> str | None:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which("nats-server")


def start_nats(data: Path, port: int, monitor_port: int) -> subprocess.Popen[bytes]:
    binary = find_nats_server()
    if binary is None:
        raise FileNotFoundError("nats-server not found (run `make setup` or set NATS_URL)")
    argv = [binary, "-js", "-sd", str(data / "nats"), "-a", "127.0.0.1"]
    argv += ["-p", str(port), "-m", str(monitor_port)]
    with (data / "logs" / "nats-server.log").open("ab") as log:
        # Own process group: the terminal's Ctrl-C must not stop NATS before the services drain.
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=die_with_parent,
        )


def service_argv(name: str) -> list[str]:
    return [sys.executable, "-m", f"services.{name}"]


def worker_metrics_port(name: str) -> int:
    return env_int(f"{name.upper()}_METRICS_PORT", WORKER_METRICS_PORTS[name])


def storyboard_replicas() -> dict[str, int]:
    """The storyboard workers beyond the first, by name (`storyboard-2`, ...) and metrics port."""
    count = max(1, env_int("STORYBOARD_REPLICAS", 1))
    first = env_int("STORYBOARD_REPLICA_METRICS_PORT", STORYBOARD_REPLICA_METRICS_PORT)
    return {f"storyboard-{n}": first + n - 2 for n in range(2, count + 1)}


def service_env(name: str, common: Mapping[str, str], data: Path) -> dict[str, str]:
    env = {**os.environ, **common}
    env.pop("DATABASE_PATH", None)
    if name in DATABASES:
        env["DATABASE_PATH"] = str(data / DATABASES[name])
    if name in WORKER_METRICS_PORTS:
        env["METRICS_PORT"] = str(worker_metrics_port(name))
    else:
        # The gateway keeps /metrics on its API port here (services/gateway/metrics_port.py):
        # one port to remember in development, whatever the shell exports.
        env.pop("METRICS_PORT", None)
    # The terminal shows every service's lines; data/logs/<service>.jsonl keeps them for
    # jq (`cat data/logs/*.jsonl | jq ...` is the combined log).
    env["LOG_FILE"] = str(data / "logs" / f"{name}.jsonl")
    if name == "gateway":
        # `make run` is development: the web console offers a login for any client id.
        env.setdefault("DEV_LOGIN", "1")
        # CORS for the console's own origin only; a page elsewhere (a dev server on
        # another port) is added with CORS_ALLOWED_ORIGINS=... make run.
        console = f"http://127.0.0.1:{common.get('GATEWAY_PORT', 8080)}"
        env.setdefault("CORS_ALLOWED_ORIGINS", console)
    return env


def common_env(nats_url: str, secret: str, data: Path, gateway_port: int) -> dict[str, str]:
    return {
        "NATS_URL": nats_url,
        "JWT_SECRET": secret,
        "VIDEO_STORAGE_PATH": os.environ.get("VIDEO_STORAGE_PATH") or str(data / "storage"),
        "GENERATION_BACKEND": os.environ.get("GENERATION_BACKEND") or "local",
        "GATEWAY_PORT": str(gateway_port),
        "PYTHONUNBUFFERED": "1",
    }


def wants_fake_replicate() -> bool:
    """`REPLICATE_FAKE=1` starts the fake Replicate server for the replicate backend; unset,
    it starts when `GENERATION_BACKEND=replicate` names no REPLICATE_BASE_URL and no token
    (a demo without an account); `0` never starts it."""
    choice = os.environ.get("REPLICATE_FAKE", "").strip()
    if choice in ("0", "1"):
        return choice == "1"
    has_token = os.environ.get("REPLICATE_API_TOKEN") or os.environ.get("REPLICATE_API_KEY")
    return (
        os.environ.get("GENERATION_BACKEND") == "replicate"
        and not os.environ.get("REPLICATE_BASE_URL")
        and not has_token
    )


def start_fake_replicate(
    data: Path, gateway_port: int
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """`python -m tools.fake_replicate` and the settings that point the services at it
    (outputs fetched from it, webhooks to the gateway, polling scaled like its latencies)."""
    port = env_int("REPLICATE_FAKE_PORT", 8123)
    scale = float(os.environ.get("REPLICATE_FAKE_LATENCY_SCALE") or "0.1")
    divisor = env_int("REPLICATE_FAKE_RESOLUTION_DIVISOR", 2)
    token = "r8_fake_dev_token"
    argv = [sys.executable, "-m", "tools.fake_replicate", "--port", str(port)]
    argv += ["--token", token, "--latency-scale", str(scale)]
    argv += ["--resolution-divisor", str(divisor)]
    with (data / "logs" / "fake-replicate.log").open("ab") as log:
        proc = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
    base = f"http://127.0.0.1:{port}"
    tunable = {
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{gateway_port}",
        "REPLICATE_POLL_MIN_S": str(max(0.05, scale)),
        "REPLICATE_POLL_MAX_S": str(max(0.5, 10 * scale)),
    }
    # A tunable the caller set wins, even empty (PUBLIC_BASE_URL= turns webhooks off).
    settings = {name: os.environ.get(name, value) for name, value in tunable.items()}
    settings.update(
        GENERATION_BACKEND="replicate",
        REPLICATE_API_TOKEN=token,
        REPLICATE_API_KEY=token,
        REPLICATE_BASE_URL=base,
        REPLICATE_DELIVERY_BASE_URL=base,
    )
    return proc, settings


def start_services(common: Mapping[str, str], data: Path) -> dict[str, subprocess.Popen[bytes]]:
    launches = {name: (name, service_env(name, common, data)) for name in SERVICES}
    for replica, port in storyboard_replicas().items():
        env = service_env("storyboard", common, data)
        env.update(METRICS_PORT=str(port), LOG_FILE=str(data / "logs" / f"{replica}.jsonl"))
        launches[replica] = ("storyboard", env)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name, (service, env) in launches.items():
        procs[name] = subprocess.Popen(
            service_argv(service),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
    return procs


def health_urls(gateway_port: int) -> dict[str, str]:
    urls = {"gateway": f"http://127.0.0.1:{gateway_port}/readyz"}
    for name in WORKER_METRICS_PORTS:
        urls[name] = f"http://127.0.0.1:{worker_metrics_port(name)}/healthz"
    for replica, port in storyboard_replicas().items():
        urls[replica] = f"http://127.0.0.1:{port}/healthz"
    return urls


def report_exit(procs: Mapping[str, subprocess.Popen[bytes]]) -> bool:
    """Print every child that has exited; True if any has."""
    died = False
    for name, proc in procs.items():
        if (code := proc.poll()) is not None:
            print(f"run_local: {name} exited with code {code}", file=sys.stderr, flush=True)
            died = True
    return died


def wait_healthy(
    urls: Mapping[str, str],
    procs: Mapping[str, subprocess.Popen[bytes]],
    stop: StopSignal,
    timeout: float,
) -> Outcome:
    pending = dict(urls)
    deadline = time.monotonic() + timeout
    while pending:
        if stop.received is not None:
            return Outcome.STOPPED
        if report_exit(procs):
            return Outcome.DIED
        pending = {name: url for name, url in pending.items() if not http_ok(url)}
        if pending and time.monotonic() >= deadline:
            print(f"run_local: not healthy after {timeout:.0f} s: {', '.join(pending)}", flush=True)
            return Outcome.TIMEOUT
        if pending:
            stop.wait(POLL_S)
    return Outcome.READY


def supervise(procs: Mapping[str, subprocess.Popen[bytes]], stop: StopSignal) -> Outcome:
    while not stop.wait(SUPERVISE_S):
        if report_exit(procs):
            return Outcome.DIED
    return Outcome.STOPPED


def wait_exited(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(POLL_S)


def terminate(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM, wait up to `timeout` s, then SIGKILL whatever is left and reap it."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    wait_exited(procs, timeout)
    for proc in procs:
        if proc.poll() is None:
            print(f"run_local: pid {proc.pid} ignored SIGTERM, killing", flush=True)
            proc.kill()
        proc.wait()


def make_token(secret: str, sub: str, role: str) -> str:
    claims = {"sub": sub, "role": role, "exp": int(time.time()) + TOKEN_TTL_S}
    return jwt.encode(claims, secret, algorithm="HS256")


def print_banner(gateway_port: int, secret: str, nats_url: str, data: Path) -> None:
    gateway = f"http://127.0.0.1:{gateway_port}"
    client = make_token(secret, "dev-client", "client")
    admin = make_token(secret, "dev-admin", "admin")
    print(
        "\n"
        "Reelsmith is running.\n"
        f"  Gateway       {gateway}\n"
        f"  Web console   {gateway}/  (development login: any client id)\n"
        f"  NATS          {nats_url}\n"
        f"  Data          {data}\n"
        f"  Client token  export TOKEN={client}\n"
        f"  Admin token   export ADMIN_TOKEN={admin}\n"
        f'  Try           curl -H "Authorization: Bearer $TOKEN" {gateway}/api/v2/jobs\n'
        "Press Ctrl-C to stop.\n",
        flush=True,
    )


def ensure_nats(
    data: Path, stop: StopSignal
) -> tuple[str | None, subprocess.Popen[bytes] | None, Outcome]:
    """Reuse a reachable NATS_URL, else start nats-server and wait until JetStream is healthy."""
    configured = os.environ.get("NATS_URL")
    if configured and tcp_reachable(configured):
        return configured, None, Outcome.READY
    port = env_int("NATS_PORT", 4222)
    monitor = env_int("NATS_MONITOR_PORT", 8222)
    nats = start_nats(data, port, monitor)
    healthz = {"nats-server": f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true"}
    outcome = wait_healthy(healthz, {"nats-server": nats}, stop, NATS_READY_S)
    if outcome is Outcome.DIED:
        print(f"run_local: see {data / 'logs' / 'nats-server.log'}", file=sys.stderr, flush=True)
    return f"nats://127.0.0.1:{port}", nats, outcome


def run(stop: StopSignal) -> Outcome:
    data = data_dir()
    secret = jwt_secret(data)
    gateway_port = env_int("GATEWAY_PORT", 8080)
    nats: subprocess.Popen[bytes] | None = None
    services: dict[str, subprocess.Popen[bytes]] = {}
    fake: subprocess.Popen[bytes] | None = None
    try:
        nats_url, nats, outcome = ensure_nats(data, stop)
        if outcome is not Outcome.READY or nats_url is None:
            return outcome
        common = common_env(nats_url, secret, data, gateway_port)
        # A development C2PA chain, made on first use, unless one is configured.
        common.update(dev_signing_env(data / "c2pa", os.environ))
        urls = health_urls(gateway_port)
        if wants_fake_replicate():
            fake, fake_settings = start_fake_replicate(data, gateway_port)
            common.update(fake_settings)
            urls["fake-replicate"] = fake_settings["REPLICATE_BASE_URL"] + "/_fake/stats"
            print(f"run_local: fake Replicate at {fake_settings['REPLICATE_BASE_URL']}", flush=True)
        services = start_services(common, data)
        if fake is not None:
            services["fake-replicate"] = fake
        watched = {**services, **({"nats-server": nats} if nats else {})}
        outcome = wait_healthy(urls, watched, stop, SERVICES_READY_S)
        if outcome is Outcome.READY:
            print_banner(gateway_port, secret, nats_url, data)
            outcome = supervise(watched, stop)
        return outcome
    finally:
        print("run_local: stopping", flush=True)
        terminate(list(services.values()), SERVICES_STOP_S)
        if nats is not None:
            terminate([nats], NATS_STOP_S)


def main() -> int:
    stop = StopSignal()
    try:
        outcome = run(stop)
    except FileNotFoundError as exc:
        print(f"run_local: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0 if outcome is Outcome.STOPPED else 1


if __name__ == "__main__":
    raise SystemExit(main())
