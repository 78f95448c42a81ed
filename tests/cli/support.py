"""Running the CLI against the `system` fixture: in-process (`main(argv)` in a thread, since
the gateway serves on the test's event loop) or as a real `reelsmith` process."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelsmith_cli.__main__ import main
from tests.support.system import System

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("reelsmith")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


async def cli(system: System, *argv: str, client_id: str = "client-a") -> Run:
    """`reelsmith --url <gateway> --token <client's token> ARGV...`, in-process."""
    out, err = io.StringIO(), io.StringIO()
    args = ["--url", system.base_url, "--token", system.token(client_id), *argv]
    code = await asyncio.to_thread(main, args, out, err)
    return Run(code, out.getvalue(), err.getvalue())


async def process(*argv: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> Run:
    """The installed console script as a subprocess (in a thread: the loop keeps serving)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REELSMITH_")}
    clean.pop("JWT_SECRET", None)
    done = await asyncio.to_thread(
        subprocess.run,
        [str(SCRIPT), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
    )
    return Run(done.returncode, done.stdout, done.stderr)
