"""The TypeScript client (`clients/typescript`) is current: its OpenAPI snapshot is the
document the gateway serves, its types are what the pinned openapi-typescript makes of
that snapshot, its code and example type-check against them, and the example runs a
job to `completed` against a real gateway. When one fails: `make client`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.contracts.openapi_support import operations
from tests.support.system import System
from tools.gen_typescript_client import (
    CLIENT_DIR,
    REGENERATE,
    SCHEMA,
    SNAPSHOT,
    generate_schema,
    node_tool,
    snapshot_text,
)

EXAMPLE = "examples/create-and-follow.ts"


def _tool(name: str) -> str:
    try:
        return node_tool(name)
    except RuntimeError as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)


def _run(*command: str, cwd: Path = CLIENT_DIR, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, **kwargs)


def _operation_ids(doc: dict[str, Any]) -> set[str]:
    return {f"{method.upper()} {path}" for path, method, _ in operations(doc)}


def test_snapshot_is_the_document_the_gateway_serves(openapi: dict[str, Any]) -> None:
    committed = json.loads(SNAPSHOT.read_text())
    added = sorted(_operation_ids(openapi) - _operation_ids(committed))
    removed = sorted(_operation_ids(committed) - _operation_ids(openapi))
    assert committed == openapi, (
        f"{SNAPSHOT.relative_to(CLIENT_DIR.parents[1])} is stale "
        f"(operations added: {added or 'none'}, removed: {removed or 'none'}; or a schema, "
        f"parameter or description changed): run `{REGENERATE}`"
    )
    # It is written the way the generator writes it, so regenerating changes no byte.
    assert SNAPSHOT.read_text() == snapshot_text(committed), f"run `{REGENERATE}`"


def test_schema_is_what_the_pinned_openapi_typescript_makes_of_the_snapshot(
    tmp_path: Path,
) -> None:
    _tool("openapi-typescript")
    fresh = tmp_path / "schema.d.ts"
    generate_schema(SNAPSHOT, fresh)
    assert fresh.read_text() == SCHEMA.read_text(), (
        f"{SCHEMA.relative_to(CLIENT_DIR.parents[1])} is not generated from openapi.json "
        f"by the pinned openapi-typescript: run `{REGENERATE}`"
    )


def test_client_and_example_type_check() -> None:
    checked = _run(_tool("tsc"), "--noEmit", "--listFiles")
    assert checked.returncode == 0, (
        f"tsc --noEmit in clients/typescript failed (after an API change, run `{REGENERATE}` "
        f"and fix the client or the example):\n{checked.stdout}{checked.stderr}"
    )
    # The example is part of the checked program (an API change that breaks it fails here).
    files = {Path(line).resolve() for line in checked.stdout.splitlines()}
    assert {CLIENT_DIR / EXAMPLE, CLIENT_DIR / "src/index.ts", SCHEMA} <= files


def test_an_api_change_that_breaks_the_example_fails_the_type_check(tmp_path: Path) -> None:
    # A copy of the client whose document lost the approve operation the example calls.
    tsc = _tool("tsc")
    copy = tmp_path / "client"
    shutil.copytree(CLIENT_DIR, copy, ignore=shutil.ignore_patterns("node_modules", "dist"))
    (copy / "node_modules").symlink_to(CLIENT_DIR / "node_modules")
    doc = json.loads(SNAPSHOT.read_text())
    del doc["paths"]["/api/v2/jobs/{job_id}/approve"]
    (copy / "openapi.json").write_text(json.dumps(doc))
    generate_schema(copy / "openapi.json", copy / "src/schema.d.ts")
    # The type check names the example's call to it.
    checked = _run(tsc, "--noEmit", cwd=copy)
    assert checked.returncode != 0
    assert EXAMPLE in checked.stdout and "/approve" in checked.stdout, checked.stdout


async def test_example_takes_a_job_to_completed_against_a_real_gateway(
    system: System, tmp_path: Path
) -> None:
    # The example, compiled as `npm run example` does, run by node against the gateway.
    tsc = _tool("tsc")
    out = tmp_path / "dist"
    built = await asyncio.to_thread(_run, tsc, "--outDir", str(out), "--declaration", "false")
    assert built.returncode == 0, built.stdout + built.stderr
    # Its imports (openapi-fetch) resolve from the client's node_modules.
    (tmp_path / "node_modules").symlink_to(CLIENT_DIR / "node_modules")
    (tmp_path / "package.json").write_text('{"type": "module"}')
    env = {
        **os.environ,
        "REELSMITH_URL": system.base_url,
        "REELSMITH_TOKEN": system.token("client-ts"),
        "REELSMITH_TIMEOUT_MS": "90000",
    }
    process = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node",
        str(out / "examples" / "create-and-follow.js"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=110)
    output = stdout.decode()
    assert process.returncode == 0, output + stderr.decode()
    # It saw the storyboard, approved and rendered, and printed the video's URL.
    assert "storyboard_ready" in output and "completed" in output, output
    job_id = output.split(":", 1)[0]
    job = await system.job(job_id, client_id="client-ts")
    assert job["status"] == "completed" and job["approved"] is True
    assert f"{system.base_url}/api/v2/jobs/{job_id}/video" in output, output
