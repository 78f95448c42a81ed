"""The compose stack, checked without Docker: services, healthchecks, start order, volumes,
and that ports, paths and variables agree with the code and with the Kubernetes manifests."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

# Register the series the dashboard may query (tests/observability checks them against
# each service's real /metrics too).
import services.billing.metrics
import services.gateway.metrics
import services.renderer.metrics  # noqa: F401
import shared.metrics  # noqa: F401
from tests.deploy.support import (
    BASE,
    DEPLOY,
    MEDIA_USERS,
    SERVICES,
    STATEFUL,
    find,
    gateway_get_paths,
    kustomize,
    load_yaml,
    pod_spec,
    setting_env_names,
    worker_get_paths,
)

COMPOSE = load_yaml(DEPLOY / "compose.yaml")
SERVICES_SPEC: dict[str, Any] = COMPOSE["services"]
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
# The series names a metric family exposes, by type (a labelled family has no samples yet).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}
HEALTH_URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/[^'\"?\s]*)")
INTERPOLATED_DEFAULT = re.compile(r"\$\{[A-Z0-9_]+:-([^}]*)\}")


def env(name: str) -> dict[str, Any]:
    return dict(SERVICES_SPEC[name].get("environment") or {})


def mounts(name: str) -> dict[str, str]:
    """target -> source of a service's volumes (short syntax); a source given as
    `${VARIABLE:-default}` is its default."""
    out = {}
    for entry in SERVICES_SPEC[name].get("volumes", []):
        entry = INTERPOLATED_DEFAULT.sub(r"\1", entry)
        source, target = entry.split(":")[:2]
        out[target] = source
    return out


def test_the_stack_has_nats_the_five_services_and_monitoring() -> None:
    assert set(SERVICES_SPEC) == {"nats", *SERVICES, "prometheus", "alertmanager", "grafana"}


def test_every_service_has_a_healthcheck_and_a_restart_policy() -> None:
    for name, spec in SERVICES_SPEC.items():
        check = spec["healthcheck"]
        assert check["test"][0] == "CMD", name
        assert {"interval", "timeout", "retries"} <= set(check), name
        assert spec["restart"] == "unless-stopped", name


def test_healthchecks_hit_endpoints_and_ports_the_services_serve() -> None:
    gateway_paths, _ = gateway_get_paths(int(env("gateway")["METRICS_PORT"]))
    worker_paths = worker_get_paths()
    for name in SERVICES:
        command = " ".join(SERVICES_SPEC[name]["healthcheck"]["test"])
        port, path = HEALTH_URL.search(command).groups()  # type: ignore[union-attr]
        prefix, paths = (
            ("GATEWAY", gateway_paths) if name == "gateway" else ("METRICS", worker_paths)
        )
        assert int(port) == int(env(name)[f"{prefix}_PORT"]), name
        assert env(name)[f"{prefix}_HOST"] == "0.0.0.0"
        # depends_on waits for readiness (NATS connected), not just a live process.
        assert path == "/readyz" and path in paths, name
    nats = " ".join(SERVICES_SPEC["nats"]["healthcheck"]["test"])
    assert "8222/healthz?js-enabled-only=true" in nats
    assert "--http_port=8222" in SERVICES_SPEC["nats"]["command"]
    assert "--jetstream" in SERVICES_SPEC["nats"]["command"]


def test_start_order_waits_for_healthy_dependencies() -> None:
    for name, spec in SERVICES_SPEC.items():
        for dependency, condition in spec.get("depends_on", {}).items():
            assert dependency in SERVICES_SPEC, (name, dependency)
            assert condition["condition"] in CONDITIONS
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES_SPEC[dependency]
    # Every Reelsmith service starts once NATS answers with JetStream enabled.
    for name in SERVICES:
        assert SERVICES_SPEC[name]["depends_on"]["nats"]["condition"] == "service_healthy"
    _assert_acyclic()


def _assert_acyclic() -> None:
    state: dict[str, str] = {}

    def visit(name: str) -> None:
        assert state.get(name) != "visiting", f"depends_on cycle through {name}"
        if state.get(name) == "done":
            return
        state[name] = "visiting"
        for dependency in SERVICES_SPEC[name].get("depends_on", {}):
            visit(dependency)
        state[name] = "done"

    for name in SERVICES_SPEC:
        visit(name)


def test_volumes_are_declared_and_bind_mounts_exist() -> None:
    declared = set(COMPOSE["volumes"])
    used = set()
    for name in SERVICES_SPEC:
        for source in mounts(name).values():
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
            else:
                assert source in declared, (name, source)
                used.add(source)
    assert used == declared


def test_databases_live_on_their_own_volume_and_media_is_shared() -> None:
    owners: dict[str, str] = {}
    for name, db_file in STATEFUL.items():
        db_path = Path(env(name)["DATABASE_PATH"])
        assert db_path.name == db_file
        volume = mounts(name)[str(db_path.parent)]
        assert volume not in owners, f"{name} and {owners.get(volume)} share {volume}"
        owners[volume] = name
    storage = {str(env(name)["VIDEO_STORAGE_PATH"]) for name in MEDIA_USERS}
    assert len(storage) == 1
    path = storage.pop()
    assert {mounts(name)[path] for name in MEDIA_USERS} == {"media"}


def test_each_service_runs_its_entry_point_from_the_one_image() -> None:
    images = set()
    for name in SERVICES:
        spec = SERVICES_SPEC[name]
        assert spec["command"] == [name]
        assert (DEPLOY / spec["build"]["context"] / spec["build"]["dockerfile"]).is_file()
        assert spec["init"] is True
        images.add(spec["image"])
    assert len(images) == 1


def test_every_variable_set_is_one_the_code_reads() -> None:
    known = set(setting_env_names())
    for name in SERVICES:
        assert set(env(name)) <= known, set(env(name)) - known
    # The JWT secret is required, never defaulted.
    assert env("gateway")["JWT_SECRET"].startswith("${JWT_SECRET:?")
    # The Replicate token passes through from the shell only when it is set there.
    assert env("renderer")["REPLICATE_API_TOKEN"] is None


def test_stop_grace_periods_match_kubernetes() -> None:
    resources = kustomize(BASE)
    for name in SERVICES:
        spec = pod_spec(find(resources, "Deployment", name))
        assert spec is not None
        grace = SERVICES_SPEC[name]["stop_grace_period"]
        assert grace == f"{spec['terminationGracePeriodSeconds']}s", name


def test_only_the_gateway_is_published_beyond_localhost() -> None:
    for name, spec in SERVICES_SPEC.items():
        for port in spec.get("ports", []):
            if name != "gateway":
                assert port.startswith("127.0.0.1:"), (name, port)


# --- Prometheus and Grafana ----------------------------------------------------------------


def test_prometheus_scrapes_every_service_on_its_metrics_port() -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for name in SERVICES:
        (sd,) = jobs[name]["dns_sd_configs"]
        assert sd["names"] == [name]
        assert sd["port"] == int(env(name)["METRICS_PORT"])
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics"
    # The gateway serves /metrics there and not on its published API port.
    api_paths, metrics_paths = gateway_get_paths(int(env("gateway")["METRICS_PORT"]))
    assert "/metrics" in metrics_paths and "/metrics" not in api_paths
    assert "/metrics" in worker_get_paths()
    published = [port.rsplit(":", 1)[-1] for port in SERVICES_SPEC["gateway"]["ports"]]
    assert published == [env("gateway")["GATEWAY_PORT"]]
    # Rule files are loaded from the folder the compose file mounts.
    rules_target = next(t for t, s in mounts("prometheus").items() if s == "./prometheus/rules")
    assert all(path.startswith(rules_target + "/") for path in config["rule_files"])
    assert mounts("prometheus")["/etc/prometheus/prometheus.yml"] == "./prometheus/prometheus.yml"


def test_prometheus_config_is_valid_and_sends_alerts_to_alertmanager() -> None:
    done = subprocess.run(
        [
            "promtool",
            "check",
            "config",
            "--syntax-only",
            str(DEPLOY / "prometheus" / "prometheus.yml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    (manager,) = config["alerting"]["alertmanagers"]
    (static,) = manager["static_configs"]
    assert static["targets"] == ["alertmanager:9093"]
    alertmanager = SERVICES_SPEC["alertmanager"]
    assert "127.0.0.1:9093:9093" in alertmanager["ports"]
    # It reads the routing file of deploy/alertmanager (or the operator's copy of it).
    config_flag = next(a for a in alertmanager["command"] if a.startswith("--config.file="))
    target = config_flag.split("=", 1)[1]
    assert mounts("alertmanager")[target] == "./alertmanager/alertmanager.yml"
    assert "${ALERTMANAGER_CONFIG:-" in " ".join(alertmanager["volumes"])
    assert "/-/ready" in " ".join(alertmanager["healthcheck"]["test"])


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    grafana = mounts("grafana")
    provisioning = DEPLOY / "grafana" / "provisioning"
    assert grafana["/etc/grafana/provisioning"] == "./grafana/provisioning"
    (source,) = load_yaml(provisioning / "datasources" / "prometheus.yaml")["datasources"]
    assert source["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in SERVICES_SPEC["prometheus"]["ports"]
    (provider,) = load_yaml(provisioning / "dashboards" / "reelsmith.yaml")["providers"]
    dashboards = DEPLOY / grafana[provider["options"]["path"]]
    files = sorted(dashboards.glob("*.json"))
    assert files
    home = SERVICES_SPEC["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert Path(home).name in {f.name for f in files}
    for path in files:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == source["uid"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == source["uid"]


@pytest.mark.parametrize("path", sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")))
def test_dashboard_queries_name_series_that_exist(path: Path) -> None:
    exported = {"up"}
    for metric in REGISTRY.collect():
        exported |= {metric.name + suffix for suffix in SUFFIXES.get(metric.type, ("",))}
    for panel in json.loads(path.read_text())["panels"]:
        for target in panel["targets"]:
            for series in re.findall(r"\b(reelsmith_\w+|up)\b", target["expr"]):
                assert series in exported, (panel["title"], series)
