"""The console's checks panel in a real Chromium: a brief with a risky claim gets preflight
errors, each shown at its scene with the scene's frame; a plain approval is refused with
those findings listed; "Approve anyway" with a reason approves it and shows who overrode
what; after the render, each video shows its QC and its Content Credentials."""

from __future__ import annotations

import math
import re
from typing import Any

from playwright.async_api import Page, expect

from tests.browser.checks import Screenshots, assert_accessible
from tests.browser.conftest import ARTIFACTS
from tests.support.system import System

CLIENT = "checks-e2e"
CLAIM = "The guaranteed cure for dull skin"
REASON = "Legal reviewed the claim on 2026-12-01"
SEVERITY_TEXT = {"error": "Error", "warning": "Warning", "info": "Info"}
CHECKS_TEXT = {"pass": "Pass", "warn": "Warnings", "fail": "Errors"}


def clock_text(seconds: float) -> str:
    """3.24 → "0:03.2", as the console writes a time (rounding half up, as JavaScript)."""
    tenths = math.floor(seconds * 10 + 0.5)
    minutes, rest = divmod(tenths, 600)
    return f"{minutes}:{rest / 10:04.1f}"


async def server_checks(system: System, job_id: str) -> dict[str, Any]:
    status, body, _ = await system.call("GET", f"/api/v2/jobs/{job_id}/checks", CLIENT)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def place(finding: dict[str, Any]) -> str:
    """Where the panel says a finding is: its scene, or its time range in the file."""
    if finding.get("start_s") is not None:
        end = finding.get("end_s")
        if end is not None and end > finding["start_s"]:
            return f"{clock_text(finding['start_s'])}–{clock_text(end)}"
        return f"at {clock_text(finding['start_s'])}"
    return f"Scene {finding['scene']}" if finding.get("scene") else "Whole video"


async def assert_findings_shown(page: Page, prefix: str, findings: list[dict[str, Any]]) -> None:
    """Each finding of the gateway's document, in order: severity, place, check, message,
    and a loaded thumbnail when it has one."""
    await expect(page.locator(f"[id^='{prefix}-finding-'].finding")).to_have_count(len(findings))
    for i, finding in enumerate(findings, start=1):
        item = page.locator(f"#{prefix}-finding-{i}")
        await expect(item).to_have_attribute("data-severity", finding["severity"])
        await expect(item.locator(".severity")).to_have_text(SEVERITY_TEXT[finding["severity"]])
        await expect(item.locator(".finding-place")).to_have_text(place(finding))
        await expect(item.locator(".finding-check")).to_have_text(finding["check"])
        await expect(item.locator(".finding-message")).to_have_text(finding["message"])


async def assert_thumbnail_loaded(page: Page, selector: str) -> None:
    thumb = page.locator(selector)
    await expect(thumb).to_have_attribute("src", re.compile(r"access_token="))
    await thumb.scroll_into_view_if_needed()
    await page.wait_for_function(
        "s => { const i = document.querySelector(s); return i.complete && i.naturalWidth > 0; }",
        arg=selector,
    )


async def test_checks_panel_from_a_risky_brief_to_an_override_and_qc(
    console_system: System, page: Page
) -> None:
    system = console_system
    shots = Screenshots(page, ARTIFACTS, "checks")

    # Sign in with the development login.
    await page.goto(system.base_url + "/")
    await page.get_by_label("Client id").fill(CLIENT)
    await page.get_by_role("button", name="Development login").click()
    await expect(page.locator("#session-status")).to_contain_text(f"Signed in as {CLIENT}")

    # A short brief whose key message promises a cure.
    await page.get_by_label("Campaign id").fill("risky-claim")
    await page.get_by_label("Brief", exact=True).fill("Introducing Glow Serum. Vegan.")
    await page.get_by_label("Key messages (optional)").fill(CLAIM)
    await page.get_by_label("Duration (seconds, 5–60)").fill("6")
    await expect(page.locator("#estimate-total")).to_have_text("$0.00")
    await page.get_by_role("button", name="Submit brief").click()
    await expect(page.locator("#job-status")).to_have_text(
        "Storyboard ready for review", timeout=30_000
    )
    job_id = (await page.evaluate("location.hash")).removeprefix("#job=")

    # Times are written as minutes:seconds to a tenth (the module the panel uses).
    places = await page.evaluate(
        """() => import("/console/checks.js").then((m) => [
            m.findingPlace({ start_s: 3.24, end_s: 4.5 }), m.findingPlace({ start_s: 61.96 }),
            m.findingPlace({ scene: 2 }), m.findingPlace({})])"""
    )
    assert places == ["0:03.2–0:04.5", "at 1:02.0", "Scene 2", "Whole video"], places
    assert [clock_text(s) for s in (3.24, 4.5, 61.96)] == ["0:03.2", "0:04.5", "1:02.0"]

    # The gateway's preflight has a claims error at the scene that says the claim.
    checks = await server_checks(system, job_id)
    job = await system.job(job_id, client_id=CLIENT)
    claim_scene = next(
        s["index"] for s in job["storyboard"]["scenes"] if "guaranteed cure" in s["script"].lower()
    )
    findings = checks["preflight"]["findings"]
    claim = next(
        (i, f)
        for i, f in enumerate(findings, start=1)
        if f["check"].startswith("claims.") and f["severity"] == "error"
    )
    assert claim[1]["scene"] == claim_scene, findings
    assert checks["status"] == job["checks_status"] == "fail"

    # The panel: the status in words, every finding as the gateway has it, the claim at
    # its scene with that scene's storyboard frame.
    await expect(page.locator("#checks-status")).to_have_text("Errors")
    await expect(page.locator("#checks-status")).to_have_attribute("data-status", "fail")
    await assert_findings_shown(page, "preflight", findings)
    claim_item = page.locator(f"#preflight-finding-{claim[0]}")
    await expect(claim_item.locator(".finding-place")).to_have_text(f"Scene {claim_scene}")
    await expect(claim_item.locator(".finding-message")).to_contain_text("guaranteed cure")
    await assert_thumbnail_loaded(page, f"#preflight-finding-{claim[0]}-thumb")
    frame_url = job["storyboard"]["scenes"][claim_scene - 1]["image_url"]
    await expect(page.locator(f"#preflight-finding-{claim[0]}-thumb")).to_have_attribute(
        "src", re.compile("^" + re.escape(frame_url) + r"[?&]access_token=")
    )
    # The job list shows the job's checks status beside it.
    await page.get_by_role("button", name="Refresh jobs").click()
    await expect(page.locator(f"#jobs-list [data-job='{job_id}']")).to_have_text("Checks: Errors")
    await assert_accessible(page, min_controls=30)
    await shots.take("preflight-errors")

    # A plain approval is refused (409), and the console lists the errors that block it.
    await page.get_by_role("button", name="Approve storyboard").click()
    refused = page.locator("#approve-refused")
    await expect(refused).to_be_visible()
    await expect(refused).to_contain_text("Approval refused")
    errors = [f for f in findings if f["severity"] == "error"]
    await expect(refused.locator("li")).to_have_count(len(errors))
    await expect(refused.locator(f"li[data-check='{claim[1]['check']}']")).to_contain_text(
        f"Scene {claim_scene}: {claim[1]['message']}"
    )
    await expect(page.locator("#job-action-error")).to_be_hidden()
    await expect(page.locator("#job-status")).to_have_text("Storyboard ready for review")
    assert (await system.job(job_id, client_id=CLIENT))["approved"] is False
    await shots.take("approve-refused")

    # "Approve anyway" asks for a reason first.
    await page.get_by_role("button", name="Approve anyway").click()
    await expect(page.locator("#override-error")).to_contain_text("Write why")
    await expect(page.locator("#override-reason")).to_be_focused()

    # With a reason, the storyboard is approved; the override (reason, by whom) is shown.
    await page.get_by_label("Reason to approve despite the errors").fill(REASON)
    await page.get_by_role("button", name="Approve anyway").click()
    await expect(page.locator("#job-status")).to_have_text("Approved, ready to render")
    await expect(page.locator("#override-reason-shown")).to_have_text(REASON)
    await expect(page.locator("#override-by")).to_have_text(CLIENT)
    await expect(page.locator("#preflight-override")).to_contain_text(claim[1]["check"])
    await expect(page.locator("#override-form")).to_be_hidden()
    await expect(refused).to_be_hidden()
    override = (await server_checks(system, job_id))["override"]
    assert override["reason"] == REASON and override["by"] == CLIENT
    assert claim[1]["check"] in override["findings"]
    await shots.take("overridden")

    # Render: each video shows its QC (as measured by the renderer) and Content Credentials.
    await page.get_by_role("button", name="Render videos").click()
    await expect(page.locator("#job-status")).to_have_text("Completed", timeout=60_000)
    checks = await server_checks(system, job_id)
    (output,) = checks["outputs"]
    qc, credentials = output["qc"], output["credentials"]
    assert qc is not None and credentials is not None, output
    await expect(page.locator("#qc-1 h5")).to_contain_text("Variation 1")
    await expect(page.locator("#qc-1-status")).to_have_text(CHECKS_TEXT[qc["status"]])
    await assert_findings_shown(page, "qc-1", qc["findings"])
    for i, finding in enumerate(qc["findings"], start=1):
        if finding.get("thumbnail_url"):
            await assert_thumbnail_loaded(page, f"#qc-1-finding-{i}-thumb")
    line = page.locator("#variation-1-credentials")
    assert credentials["signed"], credentials
    await expect(line).to_have_attribute("data-signed", "true")
    await expect(line).to_contain_text("Content Credentials: signed")
    await expect(line).to_contain_text(credentials["digital_source_type"])
    await expect(page.locator("#checks-status")).to_have_text(CHECKS_TEXT[checks["status"]])
    await assert_accessible(page, min_controls=20)
    await shots.take("qc-credentials")
