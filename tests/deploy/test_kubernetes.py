"""The Kubernetes manifests, checked without a cluster: schemas, kustomize resolution, and
that they agree with the code (ports, health routes, stream and consumer names, drain times)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from services.renderer.__main__ import consumer_spec as renderer_consumer
from shared.bus import STREAMS
from shared.service import shutdown_budget
from shared.settings import Settings
from tests.deploy.monitoring_schemas import API_VERSION as MONITORING_API
from tests.deploy.monitoring_schemas import validate_monitoring
from tests.deploy.support import (
    BASE,
    K8S,
    KUBERNETES_VERSION,
    MEDIA_USERS,
    OVERLAY,
    REPO,
    SERVICES,
    STATEFUL,
    KustomizeError,
    container_env,
    container_port,
    find,
    gateway_get_paths,
    kustomize,
    load_docs,
    load_yaml,
    pod_spec,
    res_id,
    setting_env_names,
    worker_get_paths,
)

BASE_RESOURCES = kustomize(BASE)
OVERLAY_RESOURCES = kustomize(OVERLAY)
RENDERED = {"base": BASE_RESOURCES, "overlay": OVERLAY_RESOURCES}
SECRET_TEMPLATE = K8S / "secret.template.yaml"
STANDALONE = [
    SECRET_TEMPLATE,
    *sorted((K8S / "alternatives").glob("*.yaml")),
    *sorted((K8S / "maintenance").glob("*.yaml")),
]

# The ScaledObject fields KEDA documents (keda.sh/docs/2.x/reference/scaledobject-spec and
# scalers/nats-jetstream). KEDA's CRD is not in the Kubernetes schemas, so this stands in.
SCALED_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "additionalProperties": False,
        },
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {
                    "type": "object",
                    "required": ["failureThreshold", "replicas"],
                    "additionalProperties": False,
                    "properties": {
                        "failureThreshold": {"type": "integer", "minimum": 1},
                        "replicas": {"type": "integer", "minimum": 0},
                        "behavior": {"type": "string"},
                    },
                },
                "advanced": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                # The HPA's own `behavior`: checked against the Kubernetes
                                # schema separately.
                                "behavior": {"type": "object"},
                            },
                        },
                        "scalingModifiers": {"type": "object"},
                    },
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "useCachedMetrics": {"type": "boolean"},
                            "authenticationRef": {"type": "object"},
                            # Trigger metadata is map[string]string in KEDA: numbers quoted.
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}
NATS_JETSTREAM_METADATA = {
    "natsServerMonitoringEndpoint",
    "account",
    "stream",
    "consumer",
    "lagThreshold",
    "activationLagThreshold",
    "useHttps",
}


def validate(resource: dict[str, Any]) -> None:
    if resource["apiVersion"] == MONITORING_API:
        validate_monitoring(resource)
        return
    if resource["apiVersion"].startswith("keda.sh/"):
        jsonschema.validate(resource, SCALED_OBJECT_SCHEMA)
        hpa_config = resource["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {})
        if "behavior" in hpa_config:
            # Validate the behaviour as part of a minimal HPA of the pinned Kubernetes version.
            validate(
                {
                    "apiVersion": "autoscaling/v2",
                    "kind": "HorizontalPodAutoscaler",
                    "metadata": {"name": "keda-hpa"},
                    "spec": {
                        "scaleTargetRef": {"kind": "Deployment", "name": "x"},
                        "maxReplicas": 1,
                        "behavior": hpa_config["behavior"],
                    },
                }
            )
        return
    kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def deployment(resources: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return find(resources, "Deployment", name)


def main_container(resource: dict[str, Any]) -> dict[str, Any]:
    spec = pod_spec(resource)
    assert spec is not None
    containers: list[dict[str, Any]] = spec["containers"]
    assert len(containers) == 1
    return containers[0]


# --- schemas -------------------------------------------------------------------------------


@pytest.mark.parametrize("rendered", RENDERED)
def test_every_rendered_manifest_is_valid_for_the_pinned_kubernetes(rendered: str) -> None:
    # Each resource of the base and of the overlay, after patches, matches its schema.
    for resource in RENDERED[rendered]:
        validate(resource)


@pytest.mark.parametrize("path", STANDALONE, ids=lambda p: p.name)
def test_manifests_outside_the_kustomization_are_valid(path: Path) -> None:
    for resource in load_docs(path):
        validate(resource)


def test_the_validator_rejects_a_misspelt_field() -> None:
    # Strict validation is on: an unknown field (a typo) fails, so the tests above mean it.
    broken = yaml.safe_load(yaml.safe_dump(deployment(BASE_RESOURCES, "gateway")))
    broken["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 30
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)
    scaled = yaml.safe_load(yaml.safe_dump(find(BASE_RESOURCES, "ScaledObject", "renderer")))
    scaled["spec"]["maxReplicas"] = 3
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)


# --- kustomize -----------------------------------------------------------------------------


def test_the_base_lists_every_manifest_in_its_folder() -> None:
    # A manifest added to base/ but not to kustomization.yaml would silently never deploy.
    listed = set(load_yaml(BASE / "kustomization.yaml")["resources"])
    present = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_the_overlay_patches_existing_resources_and_keeps_the_rest() -> None:
    # Every patch found its target (kustomize() raises otherwise) and changed what it says.
    assert find(OVERLAY_RESOURCES, "PersistentVolumeClaim", "media")["spec"]["storageClassName"]
    scaled = find(OVERLAY_RESOURCES, "ScaledObject", "renderer")
    assert scaled["spec"]["maxReplicaCount"] == 20
    assert (
        scaled["spec"]["triggers"]
        == find(BASE_RESOURCES, "ScaledObject", "renderer")["spec"]["triggers"]
    )
    # The overlay adds its namespace, ingress and the prometheus-operator objects, and puts
    # everything into that namespace.
    assert {res_id(r) for r in OVERLAY_RESOURCES} == {res_id(r) for r in BASE_RESOURCES} | {
        ("Namespace", "reelsmith"),
        ("Ingress", "gateway"),
        ("PrometheusRule", "reelsmith"),
        ("ServiceMonitor", "gateway"),
        ("PodMonitor", "reelsmith-workers"),
    }
    assert {
        r["metadata"].get("namespace") for r in OVERLAY_RESOURCES if r["kind"] != "Namespace"
    } == {"reelsmith"}
    images = {c["image"] for r in OVERLAY_RESOURCES if (s := pod_spec(r)) for c in s["containers"]}
    assert "registry.example.com/reelsmith:0.1.0" in images


def test_a_patch_without_a_target_is_an_error(tmp_path: Path) -> None:
    # The resolver is strict: a patch naming a resource that does not exist fails.
    (tmp_path / "patch.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nope}\nspec: {replicas: 2}\n"
    )
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: ['{BASE}']\npatches:\n  - path: patch.yaml\n"
    )
    with pytest.raises(KustomizeError, match="no resource"):
        kustomize(tmp_path)


# --- workloads agree with the code ---------------------------------------------------------


def test_each_service_runs_its_own_entry_point() -> None:
    for name in SERVICES:
        container = main_container(deployment(BASE_RESOURCES, name))
        assert container["args"] == [name]
        assert container["image"].split(":")[0] == "reelsmith"
        assert (REPO / "services" / name / "__main__.py").is_file()


def test_probes_hit_endpoints_and_ports_the_services_serve() -> None:
    worker_paths = worker_get_paths()
    assert {"/healthz", "/readyz", "/metrics"} <= worker_paths
    for name in SERVICES:
        resource = deployment(BASE_RESOURCES, name)
        container = main_container(resource)
        env = container_env(container, BASE_RESOURCES)
        # The gateway serves health on its HTTP port, the workers on METRICS_PORT; bound to
        # every interface, since the kubelet and Prometheus come from outside the pod.
        prefix = "GATEWAY" if name == "gateway" else "METRICS"
        port = int(env[f"{prefix}_PORT"])
        assert env[f"{prefix}_HOST"] == "0.0.0.0"
        api_paths, _ = gateway_get_paths(int(env["METRICS_PORT"]))
        paths = api_paths if name == "gateway" else worker_paths
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container[kind]["httpGet"]
            assert probe["path"] in paths, (name, kind)
            assert container_port(container, probe["port"]) == port, (name, kind)
        # Every pod, the gateway's too, is scraped on METRICS_PORT (annotation-based scrapers).
        annotations = resource["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] == "/metrics"
        assert int(annotations["prometheus.io/port"]) == int(env["METRICS_PORT"])
        assert container_port(container, "metrics") == int(env["METRICS_PORT"])
    # Workers are ready only once connected to NATS.
    assert (
        main_container(deployment(BASE_RESOURCES, "renderer"))["readinessProbe"]["httpGet"]["path"]
        == "/readyz"
    )


def test_the_ingress_never_reaches_the_gateways_metrics() -> None:
    # The ingress forwards to the Service's API port only; behind it the gateway, run with
    # the deployed METRICS_PORT, routes no /metrics: that is on the `metrics` port, which
    # only Prometheus inside the cluster uses.
    ingress = find(OVERLAY_RESOURCES, "Ingress", "gateway")
    service = find(OVERLAY_RESOURCES, "Service", "gateway")
    container = main_container(deployment(OVERLAY_RESOURCES, "gateway"))
    env = container_env(container, OVERLAY_RESOURCES)
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    backends = [
        path["backend"]["service"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends
    for backend in backends:
        assert backend["name"] == "gateway"
        wanted = backend["port"]
        (port,) = [
            p for p in ports.values() if wanted in ({"name": p["name"]}, {"number": p["port"]})
        ]
        assert container_port(container, port["targetPort"]) == int(env["GATEWAY_PORT"])
    api_paths, metrics_paths = gateway_get_paths(int(env["METRICS_PORT"]))
    assert "/metrics" not in api_paths and {"/healthz", "/readyz"} <= api_paths
    assert metrics_paths == {"/metrics"}
    assert container_port(container, ports["metrics"]["targetPort"]) == int(env["METRICS_PORT"])


def test_services_route_to_named_container_ports() -> None:
    for service in (r for r in BASE_RESOURCES if r["kind"] == "Service"):
        selector = service["spec"]["selector"]
        pods = [
            r
            for r in BASE_RESOURCES
            if pod_spec(r) is not None
            and selector.items() <= r["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert pods, f"Service {service['metadata']['name']} selects no pods"
        for port in service["spec"]["ports"]:
            for pod in pods:
                container_port(main_container(pod), port["targetPort"])


def test_selectors_match_their_pod_labels() -> None:
    for resource in BASE_RESOURCES:
        if pod_spec(resource) is not None:
            labels = resource["spec"]["template"]["metadata"]["labels"]
            assert resource["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for budget in (r for r in BASE_RESOURCES if r["kind"] == "PodDisruptionBudget"):
        target = deployment(BASE_RESOURCES, budget["metadata"]["name"])
        labels = target["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_every_variable_set_is_one_the_code_reads() -> None:
    # A misspelt variable is silently ignored by pydantic-settings: catch it here.
    known = set(setting_env_names())
    for name in SERVICES:
        env = container_env(main_container(deployment(BASE_RESOURCES, name)), BASE_RESOURCES)
        assert set(env) <= known, set(env) - known
    (secret,) = load_docs(SECRET_TEMPLATE)
    assert set(secret["stringData"]) <= known


def test_secrets_are_referenced_not_shipped() -> None:
    assert not [r for r in BASE_RESOURCES if r["kind"] == "Secret"]
    gateway = main_container(deployment(BASE_RESOURCES, "gateway"))
    jwt = next(e for e in gateway["env"] if e["name"] == "JWT_SECRET")
    assert jwt["valueFrom"]["secretKeyRef"]["name"] == "reelsmith-secrets"
    assert not jwt["valueFrom"]["secretKeyRef"].get("optional", False)


def test_stateful_services_own_one_volume_each_and_never_run_twice() -> None:
    claims = {}
    for name, db_file in STATEFUL.items():
        resource = deployment(BASE_RESOURCES, name)
        spec = pod_spec(resource)
        assert spec is not None
        # One replica, and the old pod stops before the new one opens the SQLite file.
        assert resource["spec"]["replicas"] == 1
        assert resource["spec"]["strategy"]["type"] == "Recreate"
        container = main_container(resource)
        db_path = Path(container_env(container, BASE_RESOURCES)["DATABASE_PATH"])
        assert db_path.name == db_file
        # The file lies on a ReadWriteOnce claim mounted at its folder.
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(db_path.parent))
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        claim = find(
            BASE_RESOURCES, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]
        )
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        claims[name] = claim["metadata"]["name"]
    assert len(set(claims.values())) == len(claims)


def test_media_is_one_read_write_many_volume_where_the_code_looks() -> None:
    media = find(BASE_RESOURCES, "PersistentVolumeClaim", "media")
    assert media["spec"]["accessModes"] == ["ReadWriteMany"]
    for name in MEDIA_USERS:
        resource = deployment(BASE_RESOURCES, name)
        container = main_container(resource)
        storage = container_env(container, BASE_RESOURCES)["VIDEO_STORAGE_PATH"]
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == storage)
        spec = pod_spec(resource)
        assert spec is not None
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        assert volume["persistentVolumeClaim"]["claimName"] == "media"


def test_scaling_workers_leave_replicas_to_their_autoscaler() -> None:
    # `replicas` in the manifest would reset the autoscaler's count on every apply.
    for name in ("storyboard", "renderer"):
        assert "replicas" not in deployment(BASE_RESOURCES, name)["spec"]
    hpa = find(BASE_RESOURCES, "HorizontalPodAutoscaler", "storyboard")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "storyboard"
    assert hpa["spec"]["minReplicas"] >= 2


def test_pods_meet_the_restricted_pod_security_standard() -> None:
    for resource in OVERLAY_RESOURCES:
        if (spec := pod_spec(resource)) is None:
            continue
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            if context.get("readOnlyRootFilesystem"):
                assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]) or (
                    container["name"] == "nats"
                )
            # Requests and limits everywhere: the scheduler and the OOM killer both need them.
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def grace_s(name: str) -> int:
    spec = pod_spec(deployment(BASE_RESOURCES, name))
    assert spec is not None
    return int(spec["terminationGracePeriodSeconds"])


def test_grace_periods_cover_the_services_drain() -> None:
    # On SIGTERM a worker lets its handlers finish or naks them, drains NATS and exits,
    # all within SHUTDOWN_GRACE_S (shared/service.py); the pod's grace must cover that.
    shutdown = Settings.model_fields["shutdown_grace_s"].default
    _, drain = shutdown_budget(shutdown)
    for name in SERVICES:
        assert grace_s(name) >= shutdown + 5, name
    # The renderer also lets the clip being encoded finish: it gets the longest grace.
    assert grace_s("renderer") == max(grace_s(name) for name in SERVICES)
    # The gateway: preStop sleep, then its relay and projection stop (services/gateway/app.py
    # waits up to 15 s for them), then the drain.
    gateway = main_container(deployment(BASE_RESOURCES, "gateway"))
    sleep = int(gateway["lifecycle"]["preStop"]["exec"]["command"][1])
    assert grace_s("gateway") >= sleep + 15 + drain + 5


def test_renderer_memory_fits_a_render() -> None:
    # Issue 3's budget: one render stays under 400 MB RSS; the limit leaves headroom above it.
    container = main_container(deployment(BASE_RESOURCES, "renderer"))
    limits, requests = container["resources"]["limits"], container["resources"]["requests"]
    assert _mebibytes(requests["memory"]) >= 400 * 2
    assert _mebibytes(limits["memory"]) >= _mebibytes(requests["memory"])
    workers = int(container_env(container, BASE_RESOURCES)["RENDER_WORKERS"])
    assert float(requests["cpu"]) == workers == Settings().render_workers


def _mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


# --- KEDA ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rendered", RENDERED)
def test_keda_scales_the_renderer_on_its_real_consumer(rendered: str) -> None:
    resources = RENDERED[rendered]
    scaled = find(resources, "ScaledObject", "renderer")
    spec = renderer_consumer(Settings())
    (trigger,) = scaled["spec"]["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "nats-jetstream"
    assert set(meta) <= NATS_JETSTREAM_METADATA
    # The stream and the durable exactly as the renderer declares them (a wrong consumer
    # name makes KEDA fall back to the stream's last sequence and scale to the maximum).
    assert meta["stream"] == spec.stream
    assert meta["stream"] in {stream.name for stream in STREAMS}
    assert meta["consumer"] == spec.durable
    assert meta["account"] == "$G"
    # One job per replica.
    assert meta["lagThreshold"] == "1"
    # It scales the renderer Deployment, which keeps a replica to create the durable.
    target = scaled["spec"]["scaleTargetRef"]
    assert (target.get("kind", "Deployment"), target["name"]) == ("Deployment", "renderer")
    deployment(resources, "renderer")
    assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]
    # More replicas than the consumer lets have a message in flight would sit idle.
    assert scaled["spec"]["maxReplicaCount"] <= spec.max_ack_pending


def test_keda_reads_the_nats_monitoring_port_in_the_overlay_namespace() -> None:
    scaled = find(OVERLAY_RESOURCES, "ScaledObject", "renderer")
    host, port = scaled["spec"]["triggers"][0]["metadata"]["natsServerMonitoringEndpoint"].split(
        ":"
    )
    service = find(OVERLAY_RESOURCES, "Service", "nats")
    assert host == f"nats.{service['metadata']['namespace']}.svc.cluster.local"
    monitor = next(p for p in service["spec"]["ports"] if p["name"] == "monitor")
    assert int(port) == monitor["port"]
    nats = main_container(find(OVERLAY_RESOURCES, "StatefulSet", "nats"))
    assert container_port(nats, monitor["targetPort"]) == int(port)
    config = find(OVERLAY_RESOURCES, "ConfigMap", "nats-config")["data"]["nats.conf"]
    assert re.search(rf"^\s*http_port:\s*{port}\b", config, re.M)
    assert re.search(r"^\s*jetstream\s*\{", config, re.M)


def test_services_reach_nats_through_its_service() -> None:
    url = find(BASE_RESOURCES, "ConfigMap", "reelsmith-config")["data"]["NATS_URL"]
    service = find(BASE_RESOURCES, "Service", "nats")
    client = next(p for p in service["spec"]["ports"] if p["name"] == "client")
    assert url == f"nats://nats:{client['port']}"
