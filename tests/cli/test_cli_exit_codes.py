"""`reelsmith` as people and scripts run it: the installed console script as a process,
configured from the environment, with exit codes that tell client errors (2), server
errors or an unreachable gateway (3) and failed jobs (4) apart; tokens."""

from __future__ import annotations

import socket
from pathlib import Path

import jwt

from tests.cli.support import cli, process
from tests.integration.test_storyboard_failures import png, stored
from tests.support.nats_server import NatsServer
from tests.support.system import SECRET, System, running_system
from tests.support.waiting import eventually


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_exit_codes_of_the_console_script(system: System) -> None:
    env = {"REELSMITH_URL": system.base_url, "REELSMITH_TOKEN": system.token()}

    # A job made by the process, configured from the environment: exit 0, JSON on stdout.
    run = await process(
        "--json", "generate", "--campaign", "c", "--prompt", "p", "--platform", "tiktok",
        "--duration", "10", env=env,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    job = run.json
    assert job["status"] == "queued" and run.stderr == ""

    # Unknown job: 404 → exit 2, the gateway's error on stdout (--json) and stderr.
    run = await process("--json", "status", "0" * 32, env=env)
    assert run.code == 2
    assert run.json["error"]["code"] == "not_found"
    assert "404 not_found: job 00000000000000000000000000000000 not found" in run.stderr

    # Invalid brief: 422 → exit 2, naming the field.
    run = await process(
        "generate", "--campaign", "c", "--prompt", "p", "--platform", "tiktok",
        "--duration", "99", env=env,
    )  # fmt: skip
    assert run.code == 2 and "422 validation_error" in run.stderr and "duration_s" in run.stderr

    # No token: 401 → exit 2 with a hint.
    run = await process("jobs", env={"REELSMITH_URL": system.base_url})
    assert run.code == 2 and "REELSMITH_TOKEN" in run.stderr

    # A server error (no billing service answers quotes here): 503 → exit 3.
    run = await process(
        "estimate", "--campaign", "c", "--prompt", "p", "--platform", "tiktok",
        "--duration", "10", env=env,
    )  # fmt: skip
    assert run.code == 3 and "503 unavailable" in run.stderr

    # Nothing listening: exit 3.
    run = await process(
        "--json", "jobs", env={**env, "REELSMITH_URL": f"http://127.0.0.1:{free_port()}"}
    )
    assert run.code == 3 and run.json["error"]["code"] == "unreachable"

    # A usage error (--feedback missing): exit 2.
    run = await process("refine", job["id"], "2", env=env)
    assert run.code == 2 and "--feedback" in run.stderr

    # The token never appears in the output.
    run = await process("status", job["id"], env=env)
    assert run.code == 0 and job["id"] in run.stdout
    assert env["REELSMITH_TOKEN"] not in run.stdout + run.stderr


async def test_tokens_from_the_secret_or_the_dev_login(
    system: System, nats_server: NatsServer, tmp_path: Path
) -> None:
    # With JWT_SECRET: a token for the asked client and role, valid for the gateway.
    run = await process(
        "--json", "token", "--client-id", "cli-x", "--role", "admin", env={"JWT_SECRET": SECRET}
    )
    assert run.code == 0, run.stderr
    claims = jwt.decode(run.json["token"], SECRET, algorithms=["HS256"])
    assert claims["sub"] == "cli-x" and claims["role"] == "admin"

    # From `make run`'s data/.jwt_secret in the working directory; plain output is the token.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / ".jwt_secret").write_text(SECRET + "\n")
    run = await process("token", cwd=tmp_path)
    assert run.code == 0
    assert jwt.decode(run.stdout.strip(), SECRET, algorithms=["HS256"])["sub"] == "dev-client"

    async with running_system(nats_server.url, tmp_path / "sys", dev_login=True) as dev:
        # No secret at hand: the gateway's development login issues it.
        run = await process(
            "--json", "token", "--client-id", "cli-y", env={"REELSMITH_URL": dev.base_url}
        )
        assert run.code == 0, run.stderr
        assert run.json["source"] == "dev-login" and run.json["client_id"] == "cli-y"
        env = {"REELSMITH_URL": dev.base_url, "REELSMITH_TOKEN": run.json["token"]}
        assert (await process("--json", "jobs", env=env)).json["items"] == []

    # Dev login off (the default) and no secret: exit 2, saying so.
    run = await process("token", env={"REELSMITH_URL": system.base_url})
    assert run.code == 2 and "development login is disabled" in run.stderr


async def test_a_failed_job_exits_4_and_retry_recovers_it(system: System, tmp_path: Path) -> None:
    # A product image uploaded with the CLI (once the assets service answers).
    image = tmp_path / "product.png"
    image.write_bytes(png((0, 128, 255)))
    upload = await eventually(
        lambda: cli(system, "--json", "upload", str(image), "--kind", "image"),
        lambda run: run.code != 3,
    )
    assert upload.code == 0, upload.stderr
    asset = upload.json
    assert asset["kind"] == "image" and asset["mime_type"] == "image/png"

    # Its stored bytes are damaged: generate --wait follows the job to failed → exit 4.
    good = stored(system, asset).read_bytes()
    stored(system, asset).write_bytes(b"not a png any more")
    brief = ("--campaign", "c", "--prompt", "Glow", "--platform", "tiktok", "--duration", "10")
    run = await cli(system, "--json", "generate", *brief, "--asset", asset["asset_id"], "--wait")
    assert run.code == 4, run.stderr
    assert run.json["status"] == "failed"
    assert "storyboard generation failed" in run.stderr

    # The image is repaired; retry --wait starts the storyboard again and it succeeds.
    stored(system, asset).write_bytes(good)
    run = await cli(system, "--json", "retry", run.json["id"], "--wait")
    assert run.code == 0, run.stderr
    assert run.json["status"] == "storyboard_ready" and run.json["storyboard"]["scenes"]

    # Retrying a job that did not fail is a 409: exit 2.
    run = await cli(system, "retry", run.json["id"])
    assert run.code == 2 and "409" in run.stderr


async def test_cancel(system: System) -> None:
    brief = ("--campaign", "c", "--prompt", "Glow", "--platform", "tiktok", "--duration", "10")
    run = await cli(system, "--json", "generate", *brief)
    run = await cli(system, "--json", "cancel", run.json["id"])
    assert run.code == 0 and run.json["status"] == "canceled"
    # Canceling again is a conflict: exit 2.
    assert (await cli(system, "cancel", run.json["id"])).code == 2
