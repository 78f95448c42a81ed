"""Alertmanager's routing (deploy/alertmanager/alertmanager.yml), offline: the file is valid
(`amtool check-config`), every alert of the rules file lands on its priority's receiver
(`amtool config routes test`), the timings and the inhibition are the intended ones, and a
real Alertmanager on loopback pages, chats and mutes as the file says."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.support.nats_server import free_port
from tests.support.waiting import eventually

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"
RULES = DEPLOY / "prometheus" / "rules" / "reelsmith.yml"
RECEIVERS = {"P0": "pager", "P1": "chat", "P2": "ticket"}
INSTALL = "install it with `make test-tools` (Debian package prometheus-alertmanager)"


def tool(name: str) -> str:
    """The path of a system tool; a missing one fails the test with the fix, never skips."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: {INSTALL}")
    return path


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("amtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return loaded


def alert_rules() -> dict[str, dict[str, str]]:
    """Each alert's labels as Alertmanager receives them (its rule labels and its name)."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {
        rule["alert"]: {"alertname": rule["alert"], **rule["labels"]}
        for group in groups
        for rule in group["rules"]
    }


def routed_to(labels: dict[str, str]) -> list[str]:
    done = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        *[f"{k}={v}" for k, v in labels.items()],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.split()


def duration(text: str) -> timedelta:
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    parts = re.fullmatch(r"(\d+)([smhd])", text)
    assert parts, text
    return timedelta(**{units[parts.group(2)]: int(parts.group(1))})


# --- the file ----------------------------------------------------------------------------------


def test_the_config_is_valid_for_amtool() -> None:
    done = amtool("check-config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and "3 receivers" in done.stdout


@pytest.mark.parametrize("alert", sorted(alert_rules()))
def test_each_alert_lands_on_its_prioritys_receiver(alert: str) -> None:
    labels = alert_rules()[alert]
    expected = RECEIVERS[labels["priority"]]
    assert routed_to(labels) == [expected]
    # amtool's own check agrees (it exits non-zero on a mismatch).
    done = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        f"--verify.receivers={expected}",
        *[f"{k}={v}" for k, v in labels.items()],
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_routing_is_by_priority_and_a_missing_one_goes_to_chat() -> None:
    # The label decides, whatever the alert is called.
    for priority, receiver in RECEIVERS.items():
        assert routed_to({"alertname": "Anything", "priority": priority}) == [receiver]
    # A rule that forgot its priority reaches people without waking anyone.
    assert routed_to({"alertname": "Unlabelled", "severity": "critical"}) == ["chat"]


def test_receivers_are_placeholders_that_never_resolve() -> None:
    # Real URLs (they often carry a token) live in a copy outside the repository
    # (ALERTMANAGER_CONFIG); the committed one can send nothing anywhere.
    receivers = {r["name"]: r for r in config()["receivers"]}
    assert set(receivers) == set(RECEIVERS.values())
    for receiver in receivers.values():
        (webhook,) = receiver["webhook_configs"]
        assert re.fullmatch(r"https://[a-z]+\.invalid/reelsmith", webhook["url"]), webhook


def test_timings_fit_each_priority() -> None:
    routes = {r["receiver"]: r for r in config()["route"]["routes"]}
    pager, chat, ticket = (routes[RECEIVERS[p]] for p in ("P0", "P1", "P2"))
    # A page goes out within seconds of the rule firing (its `for:` already waited) ...
    assert duration(pager["group_wait"]) <= timedelta(seconds=30)
    # ... and each lower priority waits and repeats less eagerly than the one above.
    for key in ("group_wait", "group_interval", "repeat_interval"):
        assert duration(pager[key]) < duration(chat[key]) <= duration(ticket[key]), key
    assert duration(pager["repeat_interval"]) <= timedelta(hours=1)
    assert duration(ticket["repeat_interval"]) >= timedelta(hours=24)
    assert config()["route"]["group_by"] == ["alertname"]


def test_api_down_mutes_p1_and_p2_but_no_other_page() -> None:
    (inhibit,) = config()["inhibit_rules"]
    assert inhibit["source_matchers"] == ['alertname="ApiDown"']
    assert inhibit["target_matchers"] == ['priority=~"P1|P2"']
    # No `equal`: one deployment, so the API being down explains every P1/P2 there is.
    assert "equal" not in inhibit
    # The source is the rules' API-down page; the other P0 is never muted by it.
    rules = alert_rules()
    assert rules["ApiDown"]["priority"] == "P0"
    muted = {name for name, labels in rules.items() if re.fullmatch("P1|P2", labels["priority"])}
    assert muted == {name for name, labels in rules.items() if labels["priority"] != "P0"}
    assert "JobFailureRateHigh" not in muted


# --- a real Alertmanager -----------------------------------------------------------------------


@dataclass
class Inbox:
    """What the loopback webhook receiver got, by receiver name."""

    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def alertnames(self, receiver: str) -> set[str]:
        return {
            alert["labels"]["alertname"]
            for message in self.received.get(receiver, [])
            for alert in message["alerts"]
        }


@contextlib.asynccontextmanager
async def webhook_inbox() -> AsyncIterator[tuple[Inbox, str]]:
    inbox = Inbox()

    async def receive(request: web.Request) -> web.Response:
        inbox.received.setdefault(request.match_info["receiver"], []).append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/{receiver}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield inbox, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def loopback_config(inbox_url: str) -> str:
    """The committed routing with each receiver pointed at the inbox and the waits cut to
    a second (the timings themselves are checked above)."""
    document = config()
    for receiver in document["receivers"]:
        receiver["webhook_configs"][0]["url"] = f"{inbox_url}/{receiver['name']}"
    for route in [document["route"], *document["route"]["routes"]]:
        route.update(group_wait="1s", group_interval="1s")
    return yaml.safe_dump(document)


@contextlib.contextmanager
def alertmanager(config_path: Path, storage: Path) -> Iterator[str]:
    """`prometheus-alertmanager` on a free loopback port, alone (no gossip cluster); its
    log beside its storage."""
    port = free_port()
    with (storage.parent / "alertmanager.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                tool("prometheus-alertmanager"),
                f"--config.file={config_path}",
                f"--storage.path={storage}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def alert(name: str, ends_at: str | None = None, **labels: str) -> dict[str, Any]:
    sent = {"labels": {**alert_rules()[name], **labels}, "annotations": {"summary": name}}
    return sent | ({"endsAt": ends_at} if ends_at else {})


async def test_a_real_alertmanager_pages_chats_and_mutes_while_the_api_is_down(
    tmp_path: Path,
) -> None:
    async with webhook_inbox() as (inbox, inbox_url), aiohttp.ClientSession() as http:
        (tmp_path / "alertmanager.yml").write_text(loopback_config(inbox_url))
        with alertmanager(tmp_path / "alertmanager.yml", tmp_path / "data") as url:

            async def ready() -> bool:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{url}/-/ready") as response:
                        return response.status == 200
                return False

            async def post(*alerts: dict[str, Any]) -> None:
                async with http.post(f"{url}/api/v2/alerts", json=list(alerts)) as response:
                    assert response.status == 200, await response.text()

            async def states() -> dict[str, dict[str, Any]]:
                async with http.get(f"{url}/api/v2/alerts") as response:
                    found = await response.json()
                return {a["labels"]["alertname"]: a["status"] for a in found}

            async def heard() -> Inbox:
                return inbox

            await eventually(ready, timeout_s=30)
            # A P0 and a P1 fire: the pager hears the one, the chat the other.
            await post(alert("JobFailureRateHigh"), alert("JobDurationP95High", stage="render"))
            await eventually(
                heard,
                lambda box: (
                    box.alertnames("pager") == {"JobFailureRateHigh"}
                    and box.alertnames("chat") == {"JobDurationP95High"}
                ),
            )
            # The API goes down and pages; then a P2 fires.
            await post(alert("ApiDown"))
            await eventually(heard, lambda box: "ApiDown" in box.alertnames("pager"))
            await post(alert("PollCacheHitRateLow"))
            # While it is down the P1 and the P2 are muted by it; the other page is not.
            muted = await eventually(
                states,
                lambda s: (
                    s.get("JobDurationP95High", {}).get("state") == "suppressed"
                    and s.get("PollCacheHitRateLow", {}).get("state") == "suppressed"
                ),
            )
            assert muted["JobDurationP95High"]["inhibitedBy"]
            assert muted["PollCacheHitRateLow"]["inhibitedBy"]
            assert muted["JobFailureRateHigh"]["state"] == "active"
            assert muted["ApiDown"]["state"] == "active"
            # The API is back: the P2 is no longer muted and becomes a ticket.
            await post(alert("ApiDown", ends_at=datetime.now(UTC).isoformat()))
            await eventually(heard, lambda box: "PollCacheHitRateLow" in box.alertnames("ticket"))
            assert inbox.alertnames("ticket") == {"PollCacheHitRateLow"}
