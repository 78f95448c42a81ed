"""The container image, checked without Docker: what the Dockerfile copies exists and is in
the build context, the final stage is small and unprivileged, and its HEALTHCHECK works."""

from __future__ import annotations

import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.deploy.support import (
    DEPLOY,
    REPO,
    SERVICES,
    Stage,
    dockerignore_rules,
    env_of,
    ignored,
    parse_dockerfile,
)

ARGS, STAGES = parse_dockerfile(DEPLOY / "Dockerfile")
FINAL = STAGES[-1]
RULES = dockerignore_rules(REPO / ".dockerignore")
BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|make|clang|cmake|[a-z0-9-]+-dev)\b")


def copies(stage: Stage) -> Iterator[tuple[list[str], str, str | None]]:
    """(sources, destination, --from stage) of each COPY/ADD."""
    for instruction in stage.all("COPY") + stage.all("ADD"):
        words = instruction.args.split()
        flags = [w for w in words if w.startswith("--")]
        paths = [w for w in words if not w.startswith("--")]
        origin = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        yield paths[:-1], paths[-1], origin


def test_base_images_are_pinned_and_satisfy_requires_python() -> None:
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(x) for x in re.search(r">=\s*([\d.]+)", requires).group(1).split("."))  # type: ignore[union-attr]
    for stage in STAGES:
        name, _, tag = stage.image.partition(":")
        assert tag and tag != "latest", stage.image
        if name == "python":
            version = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", tag).groups())  # type: ignore[union-attr]
            assert version >= minimum
    assert len({stage.image for stage in STAGES}) == 1, "build and runtime share one base"


def test_everything_copied_exists_and_is_in_the_build_context() -> None:
    stage_names = {stage.name for stage in STAGES}
    for stage in STAGES:
        for sources, _destination, origin in copies(stage):
            if origin is not None:
                assert origin in stage_names
                continue
            for source in sources:
                assert (REPO / source).exists(), source
                assert not ignored(source, RULES), f".dockerignore drops {source}"


def test_the_build_context_leaves_out_local_state_and_tests() -> None:
    for path in (
        ".git",
        ".venv",
        "data/app.db",
        "tests/conftest.py",
        "bench/poll.py",
        "deploy/.env",
    ):
        assert ignored(path, RULES), path
    for path in ("shared/__pycache__/db.cpython-311.pyc", "migrations/x.db"):
        assert ignored(path, RULES), path
    for path in (
        "shared/db.py",
        "services/renderer/__main__.py",
        "migrations/gateway/000_base.sql",
    ):
        assert not ignored(path, RULES), path


def test_the_image_holds_the_code_migrations_and_entrypoint() -> None:
    copied = {
        source for sources, _d, origin in copies(FINAL) if origin is None for source in sources
    }
    assert {
        "shared",
        "services",
        "migrations",
        "deploy/entrypoint.sh",
        "deploy/migrate.py",
    } <= copied
    assert "deploy/__init__.py" in copied, "python -m deploy.migrate needs the package"
    # The entrypoint is run as the image's ENTRYPOINT, with a service name as its argument.
    (entrypoint,) = FINAL.all("ENTRYPOINT")
    assert entrypoint.exec_form() == ["/app/deploy/entrypoint.sh"]
    (workdir,) = FINAL.all("WORKDIR")
    assert workdir.args == "/app"
    (cmd,) = FINAL.all("CMD")
    command = cmd.exec_form()
    assert command is not None and command[0] in SERVICES
    assert os.access(DEPLOY / "entrypoint.sh", os.X_OK)


def test_the_final_stage_runs_unprivileged_without_build_tools() -> None:
    (user,) = FINAL.all("USER")
    uid = user.args.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root uid (runAsNonRoot can check it)"
    for run in FINAL.all("RUN"):
        assert not BUILD_TOOLS.search(run.args), run.args
    assert any(BUILD_TOOLS.search(run.args) for run in STAGES[0].all("RUN"))


def test_the_image_listens_where_probes_and_manifests_look() -> None:
    env = env_of(FINAL)
    assert env["GATEWAY_HOST"] == env["METRICS_HOST"] == "0.0.0.0"
    exposed = {int(p) for e in FINAL.all("EXPOSE") for p in e.args.split()}
    assert {int(env["GATEWAY_PORT"]), int(env["METRICS_PORT"])} == exposed
    assert env["PATH"].startswith("/opt/venv/bin:")


# --- HEALTHCHECK, run for real -------------------------------------------------------------


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def health_server() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_healthcheck(gateway_port: int, metrics_port: int) -> int:
    (check,) = FINAL.all("HEALTHCHECK")
    command = check.exec_form()
    assert command is not None and command[0] == "python"
    env = {**os.environ, "GATEWAY_PORT": str(gateway_port), "METRICS_PORT": str(metrics_port)}
    return subprocess.run([sys.executable, *command[1:]], env=env, timeout=30).returncode


@pytest.mark.parametrize("serving", ["gateway", "worker"])
def test_healthcheck_passes_when_the_service_answers(serving: str) -> None:
    # A container serves one of the two ports: whichever it is, the check passes.
    with health_server() as port:
        ports = (port, free_port()) if serving == "gateway" else (free_port(), port)
        assert run_healthcheck(*ports) == 0


def test_healthcheck_fails_when_nothing_answers() -> None:
    assert run_healthcheck(free_port(), free_port()) != 0
