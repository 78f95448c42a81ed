"""Readers for the deployment files, so tests check them without Docker or a cluster:
a kustomize subset (resources, namespace, images, strategic-merge patches), a Dockerfile
parser, `.dockerignore` matching, and what the code itself says (settings, health routes)."""

from __future__ import annotations

import copy
import importlib
import json
import logging
import pkgutil
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from aiohttp import web

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "example"
SERVICES = ("gateway", "storyboard", "renderer", "assets", "billing")
STATEFUL = {"gateway": "app.db", "assets": "assets.db", "billing": "billing.db"}
MEDIA_USERS = ("gateway", "storyboard", "renderer", "assets")
# Pinned: manifests are validated against this Kubernetes version's schemas.
KUBERNETES_VERSION = "1.31.0"
# Variables that are not Settings fields but are meant for the processes in the image.
EXTRA_ENV = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PATH", "REELSMITH_DB_DIR"}
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "StorageClass", "ClusterRole"}


def load_docs(path: Path) -> list[dict[str, Any]]:
    with path.open() as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def load_yaml(path: Path) -> Any:
    with path.open() as handle:
        return yaml.safe_load(handle)


def run_migrate(argv: Sequence[str]) -> int:
    """`python -m deploy.migrate ARGV` in-process, leaving the test run as it was: the command
    configures the root logger for its JSON lines, and its `asyncio.run` gets its own thread
    so the test run's event loop is never touched."""
    from deploy import migrate

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(migrate.main, argv).result()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


# --- kustomize --------------------------------------------------------------------------------

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}


class KustomizeError(AssertionError):
    pass


def res_id(resource: dict[str, Any]) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """Render `directory` like `kubectl kustomize` for the features these manifests use;
    anything else in a kustomization.yaml is an error here, so the two cannot drift apart."""
    spec = load_yaml(directory / "kustomization.yaml")
    unknown = set(spec) - KUSTOMIZATION_KEYS
    if unknown:
        raise KustomizeError(f"{directory}: unsupported kustomization keys {sorted(unknown)}")
    resources: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_dir():
            resources += kustomize(path)
        elif path.is_file():
            resources += load_docs(path)
        else:
            raise KustomizeError(f"{directory}: resource {entry} does not exist")
    ids = [res_id(r) for r in resources]
    if len(ids) != len(set(ids)):
        raise KustomizeError(f"{directory}: duplicate resources {ids}")
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise KustomizeError(f"{directory}: only `path:` patches are supported: {patch}")
        path = directory / patch["path"]
        if not path.is_file():
            raise KustomizeError(f"{directory}: patch {patch['path']} does not exist")
        for doc in load_docs(path):
            _apply_patch(resources, doc, directory)
    for image in spec.get("images", []):
        _set_image(resources, image)
    if namespace := spec.get("namespace"):
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = namespace
    return resources


def _apply_patch(resources: list[dict[str, Any]], patch: dict[str, Any], where: Path) -> None:
    matches = [
        i
        for i, r in enumerate(resources)
        if res_id(r) == res_id(patch) and r["apiVersion"] == patch["apiVersion"]
    ]
    if len(matches) != 1:
        raise KustomizeError(f"{where}: patch targets no resource {res_id(patch)}")
    target = resources[matches[0]]
    builtin = not target["apiVersion"].startswith("keda.sh/")
    resources[matches[0]] = merge_patch(target, patch, builtin)


def merge_patch(base: Any, patch: Any, builtin: bool = True) -> Any:
    """Strategic merge for built-in kinds (lists of named items merge by `name`); plain JSON
    merge (lists replaced) for custom resources, as kustomize does without their schema."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = merge_patch(out[key], value, builtin)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if builtin and isinstance(base, list) and isinstance(patch, list) and _named(base + patch):
        merged = {item["name"]: item for item in copy.deepcopy(base)}
        for item in patch:
            name = item["name"]
            merged[name] = merge_patch(merged[name], item) if name in merged else item
        return list(merged.values())
    return copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)


def _set_image(resources: list[dict[str, Any]], image: dict[str, str]) -> None:
    for container in all_containers(resources):
        name, _, tag = container["image"].partition(":")
        if name == image["name"]:
            new_name = image.get("newName", name)
            new_tag = image.get("newTag", tag)
            container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


# --- workloads --------------------------------------------------------------------------------


def pod_spec(resource: dict[str, Any]) -> dict[str, Any] | None:
    if resource["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        spec: dict[str, Any] = resource["spec"]["template"]["spec"]
        return spec
    return None


def all_containers(resources: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for resource in resources:
        if (spec := pod_spec(resource)) is not None:
            yield from spec.get("initContainers", [])
            yield from spec["containers"]


def find(resources: Iterable[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [r for r in resources if res_id(r) == (kind, name)]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def container_env(container: dict[str, Any], resources: list[dict[str, Any]]) -> dict[str, str]:
    """The container's plain environment: ConfigMaps it loads, then its own `env` values
    (secret references show as `<secret:name/key>`)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        config = find(resources, "ConfigMap", source["configMapRef"]["name"])
        env.update(config["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = f"<secret:{ref['name']}/{ref['key']}>"
    return env


def container_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert named, f"container {container['name']} has no port named {port}"
    return int(named[0])


# --- what the code says ------------------------------------------------------------------------


def settings_classes() -> list[type]:
    """`shared.settings.Settings` and every service's subclass of it (services/*/settings.py)."""
    import services
    from shared.settings import Settings

    classes: list[type] = [Settings]
    for module in pkgutil.iter_modules(services.__path__):
        if (Path(services.__path__[0]) / module.name / "settings.py").is_file():
            loaded = importlib.import_module(f"services.{module.name}.settings")
            for value in vars(loaded).values():
                if isinstance(value, type) and issubclass(value, Settings) and value not in classes:
                    classes.append(value)
    return classes


def setting_env_names() -> dict[str, str]:
    """Every environment variable a Settings class reads, with the class that reads it."""
    names: dict[str, str] = {}
    for cls in settings_classes():
        for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
            alias = info.validation_alias
            choices = getattr(alias, "choices", None)
            for env in [c.upper() for c in choices] if choices else [name.upper()]:
                names.setdefault(env, cls.__module__)
    return names


def launcher_env_names() -> set[str]:
    """The variables `make run`'s launcher (deploy/run_local.py) reads."""
    from deploy import run_local

    source = (DEPLOY / "run_local.py").read_text()
    names = set(re.findall(r"(?:env_int|os\.environ\.get)\(\s*\"([A-Z0-9_]+)\"", source))
    names |= {f"{name.upper()}_METRICS_PORT" for name in run_local.WORKER_METRICS_PORTS}
    return names


def gateway_get_paths(metrics_port: int) -> tuple[set[str], set[str]]:
    """GET paths of the gateway's API port and of its metrics port (empty without one),
    as the gateway routes them with METRICS_PORT=`metrics_port`."""
    from services.gateway.appkeys import SETTINGS
    from services.gateway.metrics_port import metrics_apart, metrics_app
    from services.gateway.routes import add_routes
    from shared.settings import Settings

    settings = Settings(metrics_port=metrics_port)
    app = web.Application()
    app[SETTINGS] = settings
    add_routes(app)
    metrics = metrics_app() if metrics_apart(settings) else web.Application()
    return _get_paths(app), _get_paths(metrics)


def _get_paths(app: web.Application) -> set[str]:
    return {r.resource.canonical for r in app.router.routes() if r.method == "GET" and r.resource}


def worker_get_paths() -> set[str]:
    from shared.service import health_app

    runtime = SimpleNamespace(settings=SimpleNamespace(service_name="probe"))
    return _get_paths(health_app(runtime))  # type: ignore[arg-type]


# --- Dockerfile ---------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form ENTRYPOINT/CMD/HEALTHCHECK CMD, or None."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[1] if " CMD " in f" {text}" else ""
        text = text.strip()
        if text.startswith("["):
            value: list[str] = json.loads(text)
            return value
        return None


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) of a Dockerfile; line continuations joined."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=image, name=name))
        elif keyword == "ARG" and not stages:
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip()
        else:
            stages[-1].instructions.append(Instruction(keyword, rest.strip()))
    return args, stages


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        for key, value in re.findall(r"(\w+)=(\S+)", instruction.args):
            env[key] = value
    return env


# --- .dockerignore ------------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def dockerignore_rules(path: Path) -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        rules.append((negate, _pattern_regex(pattern.strip("/"))))
    return rules


def ignored(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = relative.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, regex in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            excluded = not negate
    return excluded
