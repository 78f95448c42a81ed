"""The prometheus-operator objects (deploy/k8s/monitoring/): generated from the rules file
and still equal to it, well formed, selecting the pods and ports that really serve
/metrics, naming their jobs as the alerts expect, and kept out of the base."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.monitoring_schemas import API_VERSION, validate_monitoring
from tests.deploy.support import (
    BASE,
    DEPLOY,
    K8S,
    OVERLAY,
    container_env,
    container_port,
    find,
    kustomize,
    load_yaml,
    pod_spec,
)
from tools import gen_k8s_monitoring

MONITORING = K8S / "monitoring"
OVERLAY_RESOURCES = kustomize(OVERLAY)
RULES = DEPLOY / "prometheus" / "rules" / "reelsmith.yml"
WORKERS = {"storyboard", "renderer", "assets", "billing"}


def monitoring(kind: str, name: str) -> dict[str, Any]:
    return find(OVERLAY_RESOURCES, kind, name)


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        value, values = labels.get(expression["key"]), expression.get("values", [])
        ok = {
            "In": value in values,
            "NotIn": value not in values,
            "Exists": value is not None,
            "DoesNotExist": value is None,
        }[expression["operator"]]
        if not ok:
            return False
    return True


def container(resource: dict[str, Any]) -> dict[str, Any]:
    spec = pod_spec(resource)
    assert spec is not None
    (main,) = spec["containers"]
    return main


# --- one source of truth ---------------------------------------------------------------------


def test_the_committed_objects_are_generated_from_the_rules_file() -> None:
    for path, text in gen_k8s_monitoring.render().items():
        assert path.is_file() and path.read_text() == text, (
            f"{path.relative_to(DEPLOY.parent)} is stale: run `{gen_k8s_monitoring.COMMAND}`"
        )


def test_check_mode_names_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The generator's --check (for CI or a hook) fails on a file that drifted.
    monkeypatch.setattr(gen_k8s_monitoring, "OUT", tmp_path / "monitoring")
    monkeypatch.setattr(gen_k8s_monitoring, "ROOT", tmp_path)
    (tmp_path / "monitoring").mkdir()
    assert gen_k8s_monitoring.main([]) == 0
    assert gen_k8s_monitoring.main(["--check"]) == 0
    (tmp_path / "monitoring" / "prometheusrule.yaml").write_text("# edited by hand\n")
    assert gen_k8s_monitoring.main(["--check"]) == 1
    assert "monitoring/prometheusrule.yaml is stale" in capsys.readouterr().err


def test_the_prometheus_rule_holds_the_rules_file_unchanged(tmp_path: Path) -> None:
    rule = monitoring("PrometheusRule", "reelsmith")
    assert rule["spec"]["groups"] == load_yaml(RULES)["groups"]
    # What the operator hands Prometheus is a valid rules file.
    extracted = tmp_path / "from-the-operator.yml"
    extracted.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    done = subprocess.run(
        ["promtool", "check", "rules", str(extracted)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_folder_lists_every_manifest_it_holds() -> None:
    listed = set(load_yaml(MONITORING / "kustomization.yaml")["resources"])
    present = {p.name for p in MONITORING.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present == {p.name for p in gen_k8s_monitoring.render()}


# --- well formed --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["PrometheusRule", "ServiceMonitor", "PodMonitor"])
def test_each_object_is_valid_and_namespaced_with_the_app(kind: str) -> None:
    (resource,) = [r for r in OVERLAY_RESOURCES if r["kind"] == kind]
    validate_monitoring(resource)
    assert resource["apiVersion"] == API_VERSION
    # In the namespace of the Services and pods it watches (a monitor looks in its own).
    gateway = find(OVERLAY_RESOURCES, "Service", "gateway")
    assert resource["metadata"]["namespace"] == gateway["metadata"]["namespace"] == "reelsmith"
    # Carries the label kube-prometheus-stack's Prometheus selects its objects by.
    assert gen_k8s_monitoring.SELECTED_BY.items() <= resource["metadata"]["labels"].items()


@pytest.mark.parametrize(
    ("kind", "path", "typo"),
    [
        ("PrometheusRule", ("spec", "groups", 0, "rules", 0), "fro"),
        ("ServiceMonitor", ("spec", "endpoints", 0), "intervall"),
        ("PodMonitor", ("spec",), "podMetricEndpoints"),
    ],
)
def test_the_schemas_refuse_a_misspelt_field(kind: str, path: tuple[Any, ...], typo: str) -> None:
    (resource,) = [r for r in OVERLAY_RESOURCES if r["kind"] == kind]
    broken = yaml.safe_load(yaml.safe_dump(resource))
    target = broken
    for step in path:
        target = target[step]
    target[typo] = "5m"
    with pytest.raises(jsonschema.ValidationError):
        validate_monitoring(broken)


def test_the_base_applies_without_the_operator() -> None:
    # Clusters without the prometheus-operator apply the base: it has none of its kinds.
    assert not [r for r in kustomize(BASE) if r["apiVersion"] == API_VERSION]


# --- they scrape what serves /metrics, under the job names the alerts use ------------------


def scrape_jobs() -> set[str]:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    return {job["job_name"] for job in config["scrape_configs"]} - {"prometheus"}


def test_the_service_monitor_scrapes_the_gateways_metrics_port() -> None:
    monitor = monitoring("ServiceMonitor", "gateway")
    (service,) = [
        r
        for r in OVERLAY_RESOURCES
        if r["kind"] == "Service" and matches(monitor["spec"]["selector"], r["metadata"]["labels"])
    ]
    assert service["metadata"]["name"] == "gateway"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    # The endpoint names a Service port that leads to the container's METRICS_PORT.
    port = next(p for p in service["spec"]["ports"] if p["name"] == endpoint["port"])
    gateway = container(find(OVERLAY_RESOURCES, "Deployment", "gateway"))
    env = container_env(gateway, OVERLAY_RESOURCES)
    assert container_port(gateway, port["targetPort"]) == int(env["METRICS_PORT"])
    assert int(env["METRICS_PORT"]) != int(env["GATEWAY_PORT"])
    # job = the Service's app.kubernetes.io/name, as the rules' up{job="gateway"} expects.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "gateway"


def test_the_pod_monitor_scrapes_every_worker_and_nothing_else() -> None:
    monitor = monitoring("PodMonitor", "reelsmith-workers")
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    selected = {}
    for resource in OVERLAY_RESOURCES:
        if pod_spec(resource) is None:
            continue
        labels = resource["spec"]["template"]["metadata"]["labels"]
        if matches(monitor["spec"]["selector"], labels):
            selected[resource["metadata"]["name"]] = labels[monitor["spec"]["jobLabel"]]
            worker = container(resource)
            port = int(container_env(worker, OVERLAY_RESOURCES)["METRICS_PORT"])
            assert container_port(worker, endpoint["port"]) == port
    # Job names are the services' names, as in the compose stack's scrape jobs.
    assert set(selected) == WORKERS
    assert selected == {name: name for name in WORKERS}
    assert set(selected) | {"gateway"} == scrape_jobs()


def test_they_scrape_as_often_as_the_compose_prometheus() -> None:
    interval = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["global"]["scrape_interval"]
    service = monitoring("ServiceMonitor", "gateway")["spec"]["endpoints"]
    pods = monitoring("PodMonitor", "reelsmith-workers")["spec"]["podMetricsEndpoints"]
    assert {e["interval"] for e in service + pods} == {interval}
