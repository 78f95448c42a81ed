"""deploy/README.md stays true: every variable the code reads is in its tables, every file it
names exists, and every alert has its section."""

from __future__ import annotations

import re

import pytest

from tests.deploy.support import DEPLOY, REPO, launcher_env_names, setting_env_names

RUNBOOK = (DEPLOY / "README.md").read_text()
TABLE_ROWS = "\n".join(line for line in RUNBOOK.splitlines() if line.startswith("|"))
ALERTS = (
    "Job failure rate > 5%",
    "API down > 5 min",
    "p95 job duration > 600 s",
    "Daily cost > $100",
    "Poll cache hit rate < 80%",
    "Consumer lag growing",
    "Budget hard limit reached",
)


@pytest.mark.parametrize("name", sorted(setting_env_names()))
def test_every_setting_is_in_the_configuration_table(name: str) -> None:
    # A new setting needs a row: variable, default, deployed value, who reads it.
    assert f"`{name}`" in TABLE_ROWS, f"document {name} in deploy/README.md, Configuration"


def test_the_launcher_and_compose_variables_are_documented() -> None:
    compose = (DEPLOY / "compose.yaml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z0-9_]+)", compose))
    for name in launcher_env_names() | interpolated | {"REELSMITH_DB_DIR", "PYTHON"}:
        assert f"`{name}`" in TABLE_ROWS, name


def test_every_file_the_runbook_names_exists() -> None:
    paths = set(re.findall(r"`((?:deploy|migrations|shared|services|tests)/[\w./<>*-]*)`", RUNBOOK))
    for path in sorted(paths):
        if "<" in path:
            continue
        assert (REPO / path).exists() or list(REPO.glob(path)), path


@pytest.mark.parametrize("alert", ALERTS)
def test_each_alert_has_a_section(alert: str) -> None:
    section = RUNBOOK.split("## On each alert", 1)[1]
    assert re.search(rf"\*\*{re.escape(alert)}[^*]*\*\*", section), alert
