// One job: where it is in its life, live progress, costs (estimated vs actual), its checks,
// the storyboard to review, approve and render, then the videos.

import { API } from "./api.js";
import { ChecksView } from "./checks.js";
import { $, announce, describeError, h, money, showError } from "./dom.js";
import { OutputsView } from "./outputs.js";
import { StoryboardView } from "./storyboard.js";
import { JobWatcher, isFinal } from "./watch.js";

const STATUS_TEXT = {
  queued: "Queued",
  storyboarding: "Writing the storyboard",
  storyboard_ready: "Storyboard ready for review",
  refining: "Refining a scene",
  approved: "Approved, ready to render",
  rendering: "Rendering",
  completed: "Completed",
  failed: "Failed",
  canceled: "Canceled",
  paused: "Paused: waiting for budget",
};
// A paused job waits before a stage: its steps show where it will go on.
const PAUSED_AT = { storyboard: "queued", refine: "refining", render: "rendering" };
const STEPS = [
  ["brief", "Brief", ["queued"]],
  ["storyboard", "Storyboard", ["storyboarding"]],
  ["review", "Review", ["storyboard_ready", "refining", "approved"]],
  ["render", "Render", ["rendering"]],
  ["videos", "Videos", ["completed"]],
];

export class JobView {
  constructor(root, { api, session, onChanged }) {
    this.root = root;
    this.api = api;
    this.onChanged = onChanged;
    this.job = null;
    this.watcher = new JobWatcher(api, {
      onJob: (job) => this.show(job),
      onTransport: (transport) => this.showTransport(transport),
      onError: (error) => this.showWatchError(error),
    });
    this.storyboard = new StoryboardView($("#storyboard-section", root), {
      api,
      session,
      onJob: (job) => this.accept(job),
    });
    this.outputs = new OutputsView($("#outputs-section", root), {
      api,
      session,
      watcher: this.watcher,
    });
    this.checks = new ChecksView($("#checks-section", root), {
      api,
      session,
      onJob: (job) => this.accept(job),
      refusedBox: $("#approve-refused", root),
    });
    this.title = $("#job-title", root);
    this.status = $("#job-status", root);
    // Why a paused job waits: a line under the status (made here, shown only then).
    this.pausedNote = h("p", { id: "job-paused", class: "paused-note", role: "status" });
    this.pausedNote.hidden = true;
    this.status.closest("p").after(this.pausedNote);
    this.steps = $("#job-steps", root);
    this.progress = $("#job-progress", root);
    this.progressText = $("#job-progress-message", root);
    this.transport = $("#job-transport", root);
    this.error = $("#job-error", root);
    this.actionError = $("#job-action-error", root);
    this.approve = $("#approve-button", root);
    this.render = $("#render-button", root);
    this.cancel = $("#cancel-button", root);
    this.retry = $("#retry-button", root);
    this.approve.addEventListener("click", () => this.act("approve", "Storyboard approved"));
    this.render.addEventListener("click", () => this.act("render", "Rendering started"));
    this.cancel.addEventListener("click", () => this.act("cancel", "Job canceled"));
    this.retry.addEventListener("click", () => this.act("retry", "Job started again"));
  }

  /** Show `job` and follow it; `etag` (of the answer that gave it) makes the first poll cheap. */
  open(job, etag = null) {
    this.job = null;
    this.outputs.reset();
    this.checks.reset();
    this.storyboard.signature = "";
    this.root.hidden = false;
    showError(this.actionError, "");
    this.show(job);
    this.watcher.watch(job, etag);
  }

  close() {
    this.watcher.stop();
    this.job = null;
    this.root.hidden = true;
  }

  /** A state from an action's answer: shown, and the watcher learns it. */
  accept(job) {
    this.show(job);
    this.watcher.update(this.job);
  }

  show(job) {
    // Answers and stream events can cross; never step back to an older state.
    if (this.job && this.job.id === job.id && job.updated_at < this.job.updated_at) return;
    const previous = this.job;
    this.job = job;
    this.title.textContent = `${job.campaign_id} · job ${job.id.slice(0, 8)}`;
    this.status.textContent = STATUS_TEXT[job.status] || job.status;
    this.status.dataset.status = job.status;
    this.showPause(job);
    this.showSteps(job);
    this.progress.value = job.progress.percent;
    $("#job-progress-bar", this.root).hidden = isFinal(job) && job.progress.stage !== "exporting";
    this.progressText.textContent = `${job.progress.message || job.progress.stage} (${Math.round(job.progress.percent)}%)`;
    showError(this.error, job.error_message ? `${job.error_message}` : "");
    this.showCosts(job);
    this.approve.disabled = job.status !== "storyboard_ready";
    this.render.disabled = job.status !== "approved";
    this.approve.hidden = this.render.hidden = isFinal(job);
    this.cancel.hidden = isFinal(job);
    this.retry.hidden = !(job.status === "failed" && job.retryable);
    const failed = (error) => showError(this.actionError, describeError(error));
    this.storyboard.render(job).catch(failed);
    this.outputs.render(job).catch(failed);
    this.checks.render(job).catch(failed);
    if (!previous || previous.status !== job.status) {
      announce(`Job ${STATUS_TEXT[job.status] || job.status}`);
      this.onChanged(job);
    }
  }

  showPause(job) {
    const pause = job.status === "paused" ? job.paused : null;
    this.pausedNote.hidden = !pause;
    if (!pause) {
      this.pausedNote.replaceChildren();
      return;
    }
    const budget = pause.budget;
    this.pausedNote.dataset.reason = pause.reason;
    this.pausedNote.dataset.stage = pause.stage;
    this.pausedNote.replaceChildren(
      h("span", { class: "paused-reason" }, pauseReason(pause)),
      budget
        ? h(
            "span",
            { class: "muted paused-budget" },
            ` Today: ${money(budget.spent_today_usd)} spent and ${money(budget.committed_usd)}` +
              ` reserved of ${money(budget.hard_limit_usd)}.`,
          )
        : null,
      h(
        "span",
        { class: "muted paused-since" },
        ` Paused since ${new Date(pause.since).toLocaleString()}; it goes on ${pause.resumes}.`,
      ),
    );
  }

  showSteps(job) {
    const status = job.status === "paused" && job.paused ? PAUSED_AT[job.paused.stage] : job.status;
    const current = STEPS.findIndex(([, , statuses]) => statuses.includes(status));
    this.steps.replaceChildren(
      ...STEPS.map(([key, label], i) => {
        const state = current < 0 ? "" : i < current ? "done" : i === current ? "current" : "";
        return h(
          "li",
          { class: state, "aria-current": i === current ? "step" : null, dataset: { step: key } },
          label,
        );
      }),
    );
  }

  showCosts(job) {
    $("#cost-estimated", this.root).textContent = money(job.estimated_cost ?? 0);
    const actual = $("#cost-actual", this.root);
    if (job.actual_cost !== null && job.actual_cost !== undefined) {
      actual.textContent = money(job.actual_cost);
    } else {
      actual.textContent = isFinal(job)
        ? `${money(0)} (no paid model calls)`
        : `${money(0)} so far`;
    }
    const items = $("#cost-items", this.root);
    items.replaceChildren(
      ...job.cost_items.map((item) =>
        h(
          "tr",
          {},
          h("td", {}, item.role),
          h("td", {}, item.stage),
          h("td", {}, item.model),
          h("td", {}, money(item.amount_usd)),
        ),
      ),
    );
    $("#cost-items-details", this.root).hidden = job.cost_items.length === 0;
  }

  showTransport({ mode, intervalMs }) {
    const text = {
      sse: "Live updates (server-sent events)",
      polling: `Polling every ${Math.round(intervalMs / 1000)} s`,
      idle: "Up to date",
    }[mode];
    this.transport.textContent = text;
    this.transport.dataset.mode = mode;
  }

  showWatchError(error) {
    showError(this.actionError, `Updates interrupted: ${describeError(error)}. Retrying.`);
  }

  async act(action, done) {
    showError(this.actionError, "");
    this.checks.clearRefused();
    const job = this.job;
    try {
      const next = await this.api.post(`${API}/jobs/${job.id}/${action}`, {});
      this.accept(next);
      announce(done);
      if (!isFinal(next) && isFinal(job)) this.watcher.watch(next);
    } catch (error) {
      // Preflight errors block approval: list them, and point at "Approve anyway".
      if (error.code === "preflight_failed") this.checks.refused(error);
      else showError(this.actionError, describeError(error));
    }
  }
}

const PAUSED_STAGE_TEXT = {
  storyboard: "the storyboard",
  refine: "the scene refinement",
  render: "the render",
};

/** A pause in words: why the job waits and what waits. */
export function pauseReason(pause) {
  const what = PAUSED_STAGE_TEXT[pause.stage] || pause.stage;
  const why =
    pause.reason === "daily_budget_exhausted"
      ? "today's budget for paid work is used up"
      : pause.reason.replace(/_/g, " ");
  return `Paused before ${what}: ${why}.`;
}
