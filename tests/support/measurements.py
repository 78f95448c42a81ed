"""Fault and load tests write what they measured to `test-artifacts/reliability/<name>.json`,
the source of the table in `docs/reliability.md` (numbers from a run, never estimates)."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("RELIABILITY_ARTIFACTS", REPO / "test-artifacts" / "reliability"))


def record_measurement(name: str, **figures: Any) -> Path:
    """Write one test's figures (plus when and where it ran); returns the file."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    entry = {
        "test": name,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        # The load average tells how much else the machine was doing during the run.
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m_5m": [round(x, 2) for x in os.getloadavg()[:2]],
        },
        **figures,
    }
    path = ARTIFACTS / f"{name}.json"
    path.write_text(json.dumps(entry, indent=2, sort_keys=False, default=str) + "\n")
    return path
