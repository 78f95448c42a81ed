"""What people see: rich tables for jobs, storyboards, estimates; live progress bars.

With `--json` none of this runs: stdout carries only the API's JSON.
"""

from __future__ import annotations

import re
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

Job = dict[str, Any]
# "scene 2 of 5 drawn" (storyboard), "clip 3 of 5" (render): one step per scene.
SCENE_STEP = re.compile(r"\b(scene|clip) (\d+) of (\d+)\b")
# Stages in which the job waits for the client: their bar is complete, no new one starts.
WAITING = frozenset({"storyboard_ready", "approved", "completed"})
STATUS_STYLE = {
    "completed": "green",
    "storyboard_ready": "cyan",
    "approved": "cyan",
    "failed": "red",
    "canceled": "yellow",
    "paused": "magenta",
}
PAUSED_STAGE = {"storyboard": "storyboard", "refine": "scene refinement", "render": "render"}


def money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, "bold"))


def pause_text(job: Job) -> str | None:
    """Why a paused job waits, what waits, and when it goes on; None when not paused."""
    pause = job.get("paused") if job.get("status") == "paused" else None
    if not pause:
        return None
    why = (
        "the daily budget is exhausted"
        if pause.get("reason") == "daily_budget_exhausted"
        else str(pause.get("reason", "")).replace("_", " ")
    )
    what = PAUSED_STAGE.get(pause.get("stage", ""), pause.get("stage", ""))
    text = f"{why}; the {what} starts {pause.get('resumes', 'later')}"
    if budget := pause.get("budget"):
        text += (
            f" (today: {money(budget['spent_today_usd'])} spent,"
            f" {money(budget['committed_usd'])} reserved, limit {money(budget['hard_limit_usd'])})"
        )
    return text


def job_summary(console: Console, job: Job) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column()
    progress = job.get("progress") or {}
    table.add_row("job", job["id"])
    table.add_row("campaign", job.get("campaign_id", ""))
    table.add_row("status", status_text(job["status"]))
    if paused := pause_text(job):
        table.add_row("paused", Text(paused, style=STATUS_STYLE["paused"]))
    table.add_row(
        "progress",
        f"{progress.get('stage', '')} {progress.get('percent', 0):.0f}%"
        f"  {progress.get('message', '')}".rstrip(),
    )
    table.add_row(
        "cost",
        f"estimated {money(job.get('estimated_cost'))}, actual {money(job.get('actual_cost'))}",
    )
    if job.get("error_message"):
        table.add_row("error", Text(job["error_message"], style="red"))
    scenes = (job.get("storyboard") or {}).get("scenes") or []
    if scenes:
        table.add_row("storyboard", f"{len(scenes)} scenes (reelsmith storyboard {job['id']})")
    for output in job.get("outputs") or []:
        label = "video" if output["kind"] == "render" else f"export {output.get('aspect')}"
        style = f" {output['style']}" if output.get("style") else ""
        table.add_row(
            label,
            f"v{output['variation']}{style} {output['width']}x{output['height']}"
            f" {output['duration_s']:.1f}s {output['size_bytes'] / 1e6:.1f} MB  {output['url']}",
        )
        if output["kind"] == "render" and output.get("hypothesis"):
            table.add_row("", Text(f"tests: {output['hypothesis']}", style="italic"))
    console.print(table)


def jobs_table(console: Console, jobs: list[Job]) -> None:
    table = Table(box=box.SIMPLE_HEAD)
    # The id whole (it is copied into the next command); the campaign folds if need be.
    table.add_column("id", no_wrap=True, min_width=32)
    table.add_column("status", no_wrap=True)
    table.add_column("campaign", overflow="fold")
    table.add_column("created", no_wrap=True)
    for job in jobs:
        progress = job.get("progress") or {}
        state = status_text(job["status"])
        if job["status"] in ("storyboarding", "refining", "rendering"):
            state.append(f" {progress.get('percent', 0):.0f}%")
        if job["status"] == "paused" and job.get("paused"):
            state.append(f" ({job['paused']['stage']}: budget)")
        created = str(job.get("created_at", ""))
        table.add_row(job["id"], state, job.get("campaign_id", ""), created[5:16].replace("T", " "))
    console.print(table)


def storyboard_table(console: Console, job: Job) -> None:
    scenes = (job.get("storyboard") or {}).get("scenes") or []
    total = sum(scene["duration_s"] for scene in scenes)
    table = Table(
        title=f"Storyboard of {job['id']} · {len(scenes)} scenes · {total:.1f} s",
        show_lines=True,
    )
    table.add_column("#", justify="right")
    table.add_column("beat")
    table.add_column("s", justify="right")
    table.add_column("script", ratio=3)
    table.add_column("caption", ratio=2)
    table.add_column("rev", justify="right")
    for scene in scenes:
        table.add_row(
            str(scene["index"]),
            scene.get("beat", ""),
            f"{scene['duration_s']:.1f}",
            scene["script"],
            scene["caption"],
            str(scene.get("revision", 1)),
        )
    console.print(table)
    storyboard = job.get("storyboard") or {}
    if storyboard.get("claims_left_out"):
        console.print(
            Text("Left out for length: ", style="yellow")
            + Text("; ".join(storyboard["claims_left_out"]))
        )
    if storyboard.get("variations"):
        variations_table(console, storyboard["variations"])


def variations_table(console: Console, plans: list[dict[str, Any]]) -> None:
    """What each variation tests: its look, its hook, its ask."""
    table = Table(title="Variations", show_lines=True)
    table.add_column("v", justify="right")
    table.add_column("style")
    table.add_column("hook", ratio=2)
    table.add_column("call to action", ratio=1)
    table.add_column("hypothesis", ratio=3)
    for plan in plans:
        angle = plan.get("hook_angle")
        hook = plan.get("hook", "") + (f" ({angle})" if angle else "")
        table.add_row(
            str(plan.get("variation", "")),
            plan.get("style", ""),
            hook,
            plan.get("call_to_action", ""),
            plan.get("hypothesis", ""),
        )
    console.print(table)


def estimate_table(console: Console, quote: dict[str, Any]) -> None:
    table = Table(
        title=f"Estimate ({quote['backend']}, {quote['quality']},"
        f" {quote['scene_count']} scenes, {quote['variations']} variation(s))"
    )
    for column in ("role", "stage", "model", "units", "unit price", "amount"):
        table.add_column(column, justify="right" if column in ("units", "amount") else "left")
    for item in quote["line_items"]:
        table.add_row(
            item["role"],
            item["stage"],
            item["model"],
            f"{item['units']:g} {item['unit']}",
            money(item["unit_price_usd"]),
            money(item["amount_usd"]),
        )
    table.add_row("total", "", "", "", "", Text(money(quote["estimated_cost"]), style="bold"))
    console.print(table)
    if budget := quote.get("budget"):
        console.print(
            f"budget today: {budget['state']}, spent {money(budget['spent_today_usd'])},"
            f" committed {money(budget['committed_usd'])} of {money(budget['hard_limit_usd'])}"
        )


class ProgressView:
    """A bar per stage (storyboarding, rendering ...) and a bar counting its scenes, fed
    with each new state of the job. Without a terminal, one line per change instead."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description:<14}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[note]}", style="dim", markup=False),
            console=console,
            transient=False,
        )
        self.stages: dict[str, TaskID] = {}
        self.steps: dict[str, TaskID] = {}
        self.current: str | None = None
        self._last_line: tuple[str, str, str] | None = None
        self._last_pause: str | None = None

    def __enter__(self) -> ProgressView:
        if self.live:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.progress.stop()

    def update(self, job: Job) -> None:
        if paused := pause_text(job):
            self._paused(paused)
            return
        self._last_pause = None
        progress = job.get("progress") or {}
        stage = str(progress.get("stage") or job["status"])
        percent = float(progress.get("percent") or 0)
        message = str(progress.get("message") or "")
        if not self.live:
            line = (stage, f"{percent:.0f}%", message)
            if line != self._last_line:
                self._last_line = line
                self.console.print(f"{stage:<16} {line[1]:>4}  {message}", highlight=False)
            return
        self._stage(stage, percent, message)
        if match := SCENE_STEP.search(message):
            word, done, total = match.group(1), int(match.group(2)), int(match.group(3))
            self._step(f"{stage}:{word}", f"  {word}s", done, total)

    def _paused(self, text: str) -> None:
        """A job paused for the budget: no bar moves; say why once, and that it waits."""
        if text == self._last_pause:
            return
        self._last_pause = text
        self.console.print(
            Text(f"{'paused':<16} {text}; waiting (Ctrl-C stops waiting, not the job)", "magenta"),
            highlight=False,
            soft_wrap=True,
        )

    def _stage(self, stage: str, percent: float, message: str) -> None:
        if self.current is not None and self.current != stage:
            self._finish(self.current)
            self.current = None
        if stage in WAITING:
            return  # the work is done; the client's turn
        self.current = stage
        if stage not in self.stages:
            self.stages[stage] = self.progress.add_task(stage, total=100, note="")
        self.progress.update(self.stages[stage], completed=percent, note=message)

    def _step(self, key: str, label: str, done: int, total: int) -> None:
        if key not in self.steps:
            self.steps[key] = self.progress.add_task(label, total=total, note="")
        self.progress.update(self.steps[key], completed=done, total=total, note=f"{done}/{total}")

    def _finish(self, stage: str) -> None:
        self.progress.update(self.stages[stage], completed=100)
        for key, task in self.steps.items():
            if key.startswith(f"{stage}:"):
                total = next(t.total for t in self.progress.tasks if t.id == task) or 0
                self.progress.update(task, completed=total, note=f"{total:g}/{total:g}")

    def task_states(self) -> dict[str, float]:
        """Each bar's description and completed amount (for tests and summaries)."""
        return {task.description.strip(): task.completed for task in self.progress.tasks}
