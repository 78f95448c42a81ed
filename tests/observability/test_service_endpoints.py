"""Every service as its own process (`make run`'s launcher), after one job through render:
health, readiness and metrics on each service's port, `promtool check metrics` on each
`/metrics`, the Grafana dashboard's queries against the series they really export, and the
JSON logs `make run` keeps in data/logs/*.jsonl."""

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
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
SERVICES = ("gateway", "storyboard", "renderer", "assets", "billing")
WORKERS = SERVICES[1:]
STARTUP_S = 90.0
JOB_S = 120.0
# The series names a family exposes, by type (a labelled family may have no samples yet).
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "gauge": ("",),
    "untyped": ("",),
}
# Not exported by a service but by Prometheus itself, for every scrape target: whether the
# scrape worked. The dashboard counts renderer replicas and the API-down alert with it.
PROMETHEUS_SERIES = {"up"}
REQUIRED_PANELS = (
    "throughput",
    "failure rate",
    "p95 job duration by stage",
    "cost today vs budget",
    "cache hit rate",
    "consumer lag",
    "renderer replicas",
)
T = TypeVar("T")


def free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def http(
    url: str, token: str | None = None, body: dict[str, Any] | None = None
) -> tuple[int, bytes, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10.0) as response:
        return int(response.status), bytes(response.read()), response.headers["Content-Type"]


def until(probe: Callable[[], T], done: Callable[[T], bool], timeout_s: float) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"not reached within {timeout_s:.0f} s: {value!r}"
        time.sleep(0.2)


@dataclass
class Stack:
    ports: dict[str, int]
    data: Path
    token: str
    job: dict[str, Any]

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def metrics(self, service: str) -> str:
        status, body, _ = http(self.url(service, "/metrics"))
        assert status == 200
        return body.decode()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`python -m deploy.run_local` on free ports, one job rendered through it."""
    root = tmp_path_factory.mktemp("make-run")
    gateway, nats, monitor, *metrics = free_ports(3 + len(WORKERS))
    ports = {"gateway": gateway, **dict(zip(WORKERS, metrics, strict=True))}
    env = {k: v for k, v in os.environ.items() if k not in {"JWT_SECRET", "NATS_URL"}}
    env |= {
        "REELSMITH_DATA_DIR": str(root / "data"),
        "GATEWAY_PORT": str(gateway),
        "NATS_PORT": str(nats),
        "NATS_MONITOR_PORT": str(monitor),
        "GENERATION_BACKEND": "local",
        "FRAME_SCALE_DIVISOR": "10",
        "RENDER_SCALE_DIVISOR": "10",
    }
    env |= {f"{w.upper()}_METRICS_PORT": str(ports[w]) for w in WORKERS}
    for name in ("DATABASE_PATH", "VIDEO_STORAGE_PATH", "LOG_FILE"):
        env.pop(name, None)
    output = root / "launcher.out"
    with output.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.run_local"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        text = until(
            lambda: output.read_text(errors="replace") if proc.poll() is None else "exited",
            lambda t: "Bearer" in t or t == "exited",
            STARTUP_S,
        )
        assert text != "exited", output.read_text(errors="replace")[-4000:]
        match = re.search(r"export TOKEN=(\S+)", text)
        assert match, text[-2000:]
        token = match.group(1)
        base = f"http://127.0.0.1:{gateway}/api/v2/jobs"
        brief = {
            "campaign_id": "observed",
            "prompt": "Introducing Glow Serum. Brightens skin in 7 days.",
            "platform": "tiktok",
            "duration_s": 10,
        }
        # One job through storyboard, approval and render, over HTTP like a client.
        status, body, _ = http(base, token, brief)
        assert status == 202, body
        job_id = json.loads(body)["id"]

        def job() -> dict[str, Any]:
            return json.loads(http(f"{base}/{job_id}", token)[1])  # type: ignore[no-any-return]

        until(job, lambda j: j["status"] == "storyboard_ready", JOB_S)
        assert http(f"{base}/{job_id}/approve", token, {})[0] == 200
        assert http(f"{base}/{job_id}/render", token, {})[0] == 202
        final = until(job, lambda j: j["status"] in {"completed", "failed"}, JOB_S)
        assert final["status"] == "completed", final
        # Billing has closed the job once its metrics show it (they are sampled).
        until(
            lambda: http(f"http://127.0.0.1:{ports['billing']}/metrics")[1].decode(),
            lambda t: (
                'reelsmith_events_consumed_total{outcome="acked",subject="jobs.render'
                '.completed"}' in t
            ),
            30,
        )
        yield Stack(ports=ports, data=root / "data", token=token, job=final)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# --------------------------------------------------------------------------- endpoints


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_serves_health_readiness_and_metrics(stack: Stack, service: str) -> None:
    for path in ("/healthz", "/readyz"):
        status, body, _ = http(stack.url(service, path))
        assert status == 200 and json.loads(body)["status"] in {"ok", "ready"}, (path, body)
    status, body, content_type = http(stack.url(service, "/metrics"))
    assert status == 200 and content_type.startswith("text/plain")
    assert b"# TYPE reelsmith_events_published_total counter" in body


@pytest.mark.parametrize("service", SERVICES)
def test_promtool_check_metrics_passes(stack: Stack, service: str) -> None:
    # Prometheus's own linter: names, units, suffixes, HELP on every family.
    done = subprocess.run(
        ["promtool", "check", "metrics"],
        input=stack.metrics(service),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def sample_value(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def test_each_service_reports_its_own_work(stack: Stack) -> None:
    # The gateway counted the job and its requests by route template.
    gateway = stack.metrics("gateway")
    assert sample_value(gateway, "reelsmith_jobs_completed_total", platform="tiktok") == 1
    assert sample_value(
        gateway,
        "reelsmith_http_requests_total",
        route="/api/v2/jobs/{job_id}",
        method="GET",
        status="200",
    )
    assert stack.job["id"] not in gateway
    # The storyboard and the renderer consumed their requests and sampled their consumers.
    storyboard = stack.metrics("storyboard")
    assert sample_value(
        storyboard, "reelsmith_events_consumed_total", subject="jobs.storyboard.requested"
    )
    assert (
        sample_value(storyboard, "reelsmith_consumer_pending_messages", consumer="storyboard") == 0
    )
    renderer = stack.metrics("renderer")
    assert sample_value(renderer, "reelsmith_render_speed_ratio_count") == 1
    assert sample_value(renderer, "reelsmith_job_duration_seconds_count", stage="render") == 1
    # Billing closed the job and shows the day's budget.
    billing = stack.metrics("billing")
    assert sample_value(billing, "reelsmith_cost_today_usd") == 0
    assert sample_value(billing, "reelsmith_budget_state", state="ok") == 1
    # Each process exports only its own families (no gateway series in a worker).
    assert "reelsmith_jobs_created_total" not in families(renderer)
    assert "reelsmith_render_speed_ratio" not in families(gateway)


# --------------------------------------------------------------------------- dashboard


def exported_series(stack: Stack) -> tuple[set[str], dict[str, set[str]]]:
    """Series names every service's /metrics exposes, and the label names seen per name."""
    names: set[str] = set()
    labels: dict[str, set[str]] = {}
    for service in SERVICES:
        for family in text_string_to_metric_families(stack.metrics(service)):
            names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
            for s in family.samples:
                names.add(s.name)
                labels.setdefault(s.name, set()).update(s.labels)
    return names, labels


SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
NAME = re.compile(r"\b(reelsmith_\w+|kube_\w+|up)\b")


@pytest.mark.parametrize("path", sorted(DASHBOARDS.glob("*.json")), ids=lambda p: p.name)
def test_dashboard_queries_name_only_exported_series(stack: Stack, path: Path) -> None:
    exported, labels = exported_series(stack)
    dashboard = json.loads(path.read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for series in NAME.findall(expr):
                assert series in exported | PROMETHEUS_SERIES, (panel["title"], series)
            # A label a selector filters on must be one the series carries.
            for series, matchers in SELECTOR.findall(expr):
                if series in PROMETHEUS_SERIES or series not in labels:
                    continue
                for label in re.findall(r"(\w+)\s*[=!~]", matchers):
                    assert label in labels[series] | {"le"}, (panel["title"], series, label)


def test_dashboard_has_the_panels_operators_need(stack: Stack) -> None:
    titles = [
        p["title"].lower()
        for p in json.loads((DASHBOARDS / "reelsmith.json").read_text())["panels"]
    ]
    for needed in REQUIRED_PANELS:
        assert any(needed in title for title in titles), needed


# --------------------------------------------------------------------------- logs


def test_make_run_keeps_each_services_json_logs(stack: Stack) -> None:
    # data/logs/<service>.jsonl: the same JSON lines as the terminal, one file per service.
    logs = stack.data / "logs"
    for service in SERVICES:
        lines = [json.loads(line) for line in (logs / f"{service}.jsonl").read_text().splitlines()]
        assert lines and all(line["service"] == service for line in lines), service
        assert any(
            line["event"] == "service.started" or line["event"] == "gateway.listening"
            for line in lines
        ), service
    # The combined log answers the seed's questions about the job.
    done = subprocess.run(
        [
            "bash",
            "-o",
            "pipefail",
            "-c",
            f"cat {logs}/*.jsonl | jq -c 'select(.event==\"job_completed\")'",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    (completed,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert completed["job_id"] == stack.job["id"] and completed["trace_id"] == stack.job["id"]
    assert completed["service"] == "gateway" and completed["status"] == "completed"
    # The services that worked on the job logged within its trace (billing logs nothing
    # for a free local job).
    touched = {
        json.loads(line)["service"]
        for path in logs.glob("*.jsonl")
        for line in path.read_text().splitlines()
        if json.loads(line).get("trace_id") == stack.job["id"]
    }
    assert {"gateway", "storyboard", "renderer"} <= touched
