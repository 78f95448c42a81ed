"""The alert rules: valid for Prometheus (`promtool check rules`), their unit tests pass
(`promtool test rules`), and those tests really pin each alert down: an alert rewritten to
always fire breaks its "stays quiet" tests, one that never fires breaks its "fires" tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules" / "reelsmith.yml"
TESTS = PROMETHEUS / "tests" / "alerts.test.yml"
# The seed's alerts with their priorities, and the two an operator needs besides.
ALERTS = {
    "JobFailureRateHigh": "P0",
    "ApiDown": "P0",
    "JobDurationP95High": "P1",
    "DailyCostHigh": "P1",
    "PollCacheHitRateLow": "P2",
    "ConsumerLagGrowing": "P1",
    "BudgetHardLimitReached": "P1",
}
# How the priorities and Prometheus's customary severities line up; Alertmanager
# routes on `priority` (deploy/alertmanager/alertmanager.yml), so the two must agree.
SEVERITY = {"P0": "critical", "P1": "warning", "P2": "info"}
ALWAYS = "vector(1)"
NEVER = "vector(1) > 2"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


def rules() -> dict[str, dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def test_rules_are_valid() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout


def test_every_alert_is_there_with_its_priority() -> None:
    found = rules()
    assert set(found) == set(ALERTS)
    for name, priority in ALERTS.items():
        labels = found[name]["labels"]
        assert isinstance(labels, dict) and labels["priority"] == priority, name
        annotations = found[name]["annotations"]
        assert isinstance(annotations, dict) and annotations["runbook"].startswith("deploy/")


def test_severity_and_priority_say_the_same() -> None:
    for name, rule in rules().items():
        labels = rule["labels"]
        assert isinstance(labels, dict)
        assert labels["severity"] == SEVERITY[labels["priority"]], name


def test_rule_unit_tests_pass() -> None:
    done = promtool("test", "rules", str(TESTS))
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == set(ALERTS) and quiet == set(ALERTS)


def with_expr(tmp_path: Path, expr: str) -> Path:
    """A copy of the rules and their tests where every alert has `expr` instead."""
    document = yaml.safe_load(RULES.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            rule["expr"] = expr
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "rules" / RULES.name).write_text(yaml.safe_dump(document))
    shutil.copy(TESTS, tmp_path / "tests" / TESTS.name)
    return tmp_path / "tests" / TESTS.name


@pytest.mark.parametrize("expr", [ALWAYS, NEVER], ids=["always-firing", "never-firing"])
def test_the_unit_tests_catch_every_broken_alert(tmp_path: Path, expr: str) -> None:
    # Each alert's own test cases fail (promtool names the alert of each failed case).
    done = promtool("test", "rules", str(with_expr(tmp_path, expr)))
    assert done.returncode != 0
    for alert in ALERTS:
        assert f"alertname: {alert}," in done.stdout + done.stderr, alert
