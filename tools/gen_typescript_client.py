"""Regenerate the TypeScript client's OpenAPI snapshot and types from the gateway's code.

    python -m tools.gen_typescript_client   # or `make client`

Writes `clients/typescript/openapi.json` (the document `GET /openapi.json` serves, built
in-process: no server, no NATS) and `clients/typescript/src/schema.d.ts` (what the pinned
openapi-typescript makes of it). `tests/contracts/test_typescript_client.py` fails when
either is stale.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLIENT_DIR = ROOT / "clients" / "typescript"
SNAPSHOT = CLIENT_DIR / "openapi.json"
SCHEMA = CLIENT_DIR / "src" / "schema.d.ts"
REGENERATE = "make client"
INSTALL = "make clients/typescript/node_modules"


def gateway_document() -> dict[str, Any]:
    """The OpenAPI document of the gateway's router, as `GET /openapi.json` serves it."""
    from services.gateway.app import init_app
    from services.gateway.contract.document import build_document
    from shared.settings import Settings

    with tempfile.TemporaryDirectory(prefix="reelsmith-openapi-") as folder:
        settings = Settings(
            service_name="openapi",
            jwt_secret="only-to-build-the-app-never-used-to-sign",
            video_storage_path=Path(folder) / "storage",
            database_path=Path(folder) / "app.db",
        )
        return build_document(init_app(settings))


def snapshot_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def node_tool(name: str) -> str:
    """The path of a command from the client's node_modules; a message saying how to get
    it when node or the packages are missing (a failure, never a skip)."""
    if shutil.which("node") is None:
        raise RuntimeError(
            "node is not installed: `make test-tools` installs Node.js and npm "
            "(the TypeScript client is generated and type-checked with them)"
        )
    path = CLIENT_DIR / "node_modules" / ".bin" / name
    if not path.exists():
        raise RuntimeError(f"{path.relative_to(ROOT)} is missing: run `{INSTALL}` (npm ci)")
    return str(path)


def generate_schema(snapshot: Path, output: Path) -> None:
    """`src/schema.d.ts` from an OpenAPI snapshot, with the pinned openapi-typescript."""
    # openapi-typescript 7 makes every property with a default required, as if each schema
    # were a response; the gateway's response schemas already list every field they send as
    # required, so a default marks a field a request may leave out.
    options = ["--default-non-nullable", "false"]
    subprocess.run(
        [node_tool("openapi-typescript"), str(snapshot), "--output", str(output), *options],
        cwd=CLIENT_DIR,
        check=True,
        capture_output=True,
        text=True,
    )


def main() -> int:
    SNAPSHOT.write_text(snapshot_text(gateway_document()))
    try:
        generate_schema(SNAPSHOT, SCHEMA)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(exc.stdout, exc.stderr, sep="\n", file=sys.stderr)
        return 1
    print(f"wrote {SNAPSHOT.relative_to(ROOT)} and {SCHEMA.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
