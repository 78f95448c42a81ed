"""Checks the browser tests share: accessible names (from Chromium's own accessibility
tree), text contrast, visible focus, video playback and seeking, step screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Page

CONTROL_ROLES = {
    "button",
    "checkbox",
    "combobox",
    "link",
    "listbox",
    "radio",
    "searchbox",
    "slider",
    "spinbutton",
    "switch",
    "textbox",
}

# WCAG 2 relative luminance and contrast, over every visible text's element, against the
# first opaque background behind it. Disabled controls are exempt (WCAG 1.4.3).
CONTRAST_JS = """
() => {
  const parse = (s) => {
    const m = s.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const channel = (c) => {
    c /= 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a >= 0.99) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const failures = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(el)) continue;
    if (el.closest("option, script, style, .visually-hidden, :disabled")) continue;
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    const fg = parse(style.color);
    const bg = background(el);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      failures.push(`${el.tagName.toLowerCase()}#${el.id} "${el.textContent.trim().slice(0, 40)}"`
        + ` ${style.color} on ${JSON.stringify(bg)}: ${ratio.toFixed(2)}`);
    }
  }
  return { checked: seen.size, failures };
}
"""


async def unnamed_controls(page: Page) -> tuple[int, list[str]]:
    """(controls checked, those without an accessible name), as Chromium computes names."""
    cdp = await page.context.new_cdp_session(page)
    try:
        tree = await cdp.send("Accessibility.getFullAXTree")
        checked, unnamed = 0, []
        for node in tree["nodes"]:
            role = node.get("role", {}).get("value")
            if node.get("ignored") or role not in CONTROL_ROLES:
                continue
            checked += 1
            if not str(node.get("name", {}).get("value") or "").strip():
                described = await cdp.send(
                    "DOM.describeNode", {"backendNodeId": node["backendDOMNodeId"]}
                )
                element = described["node"]
                unnamed.append(f"{role} <{element['localName']} {element.get('attributes')}>")
        return checked, unnamed
    finally:
        await cdp.detach()


async def assert_accessible(page: Page, min_controls: int) -> None:
    """Every visible control has an accessible name and every visible text has AA contrast."""
    checked, unnamed = await unnamed_controls(page)
    assert checked >= min_controls, f"only {checked} controls found: the check saw too little"
    assert not unnamed, f"controls without an accessible name: {unnamed}"
    contrast: dict[str, Any] = await page.evaluate(CONTRAST_JS)
    assert contrast["checked"] >= min_controls, contrast
    assert not contrast["failures"], f"text below WCAG AA contrast: {contrast['failures']}"


async def assert_focus_visible(page: Page) -> str:
    """The focused element shows a focus ring (an outline at least 2 px wide); its id."""
    focus: dict[str, Any] = await page.evaluate(
        """() => {
            const el = document.activeElement;
            const style = getComputedStyle(el);
            return { id: el.id, outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
                     matches: el.matches(":focus-visible") };
        }"""
    )
    assert focus["matches"] and focus["outline"] != "none" and focus["width"] >= 2, focus
    return str(focus["id"])


async def play_and_seek(page: Page, selector: str) -> dict[str, float]:
    """Play the video (muted, as autoplay rules allow), wait until it has data ahead
    (readyState >= 3) and its time moves, then seek to 3/4 and wait for `seeked`."""
    video = page.locator(selector)
    await video.evaluate("v => { v.muted = true; return v.play(); }")
    await page.wait_for_function(
        "s => { const v = document.querySelector(s);"
        " return v.readyState >= 3 && v.currentTime > 0.2; }",
        arg=selector,
    )
    result: dict[str, float] = await video.evaluate(
        """async (v) => {
            v.pause();
            const target = v.duration * 0.75;
            const seeked = new Promise((resolve, reject) => {
                v.addEventListener("seeked", resolve, { once: true });
                v.addEventListener("error", () => reject(new Error("media error")), { once: true });
            });
            v.currentTime = target;
            await seeked;
            return { target, time: v.currentTime, duration: v.duration, readyState: v.readyState,
                     width: v.videoWidth, height: v.videoHeight };
        }"""
    )
    # Data at the new position too: the seek fetched it (a Range request).
    await page.wait_for_function("s => document.querySelector(s).readyState >= 3", arg=selector)
    result["readyState"] = await video.evaluate("v => v.readyState")
    return result


class Screenshots:
    """Numbered full-page screenshots of each step, kept as test artefacts."""

    def __init__(self, page: Page, folder: Path, prefix: str) -> None:
        self.page = page
        self.folder = folder
        self.prefix = prefix
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"{prefix}-*.png"):
            old.unlink()

    async def take(self, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.prefix}-{self.count:02d}-{step}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path
