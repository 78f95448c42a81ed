"""The NATS server settings of both deployments, checked by the real nats-server (the
version the project tests against): the Kubernetes config file and the compose flags."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.deploy.support import BASE, DEPLOY, find, load_docs, load_yaml
from tests.support.nats_server import nats_binary


def config_test(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [nats_binary(), *args, "-t"], capture_output=True, text=True, timeout=30, check=False
    )


def test_the_kubernetes_config_file_is_valid(tmp_path: Path) -> None:
    conf = find(load_docs(BASE / "nats.yaml"), "ConfigMap", "nats-config")["data"]["nats.conf"]
    # The store on a scratch folder instead of the pod's volume; everything else as deployed.
    path = tmp_path / "nats.conf"
    path.write_text(conf.replace("store_dir: /data", f"store_dir: {tmp_path / 'js'}"))
    result = config_test("-c", str(path))
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout + result.stderr


def test_an_unknown_config_field_is_caught(tmp_path: Path) -> None:
    # The check above means something: nats-server rejects a misspelt field.
    path = tmp_path / "nats.conf"
    path.write_text("port: 4222\nmax_paylaod: 1MB\n")
    assert config_test("-c", str(path)).returncode != 0


def test_the_compose_flags_are_nats_server_flags(tmp_path: Path) -> None:
    flags = load_yaml(DEPLOY / "compose.yaml")["services"]["nats"]["command"]
    flags = [f.replace("=/data", f"={tmp_path / 'js'}") for f in flags]
    path = tmp_path / "minimal.conf"
    path.write_text("port: 4222\n")
    # An unknown flag makes nats-server print its usage (and exit 0), never "is valid".
    result = config_test(*flags, "-c", str(path))
    assert result.returncode == 0 and "is valid" in result.stdout + result.stderr, result.stderr
    bogus = config_test("--max_payload=1MB", "-c", str(path))
    assert "is valid" not in bogus.stdout + bogus.stderr
