// The client's recent jobs (with their checks status, and why a paused one waits), to
// reopen one; filtered by status.

import { API } from "./api.js";
import { CHECKS_TEXT } from "./checks.js";
import { $, describeError, h } from "./dom.js";
import { pauseReason } from "./job.js";

// The statuses the list can be narrowed to ("" is every job).
const FILTERS = [
  ["", "All jobs"],
  ["paused", "Paused (waiting for budget)"],
  ["storyboard_ready", "Ready for review"],
  ["approved", "Approved"],
  ["rendering", "Rendering"],
  ["completed", "Completed"],
  ["failed", "Failed"],
  ["canceled", "Canceled"],
];

export class JobsList {
  constructor(root, { api, onOpen }) {
    this.root = root;
    this.api = api;
    this.onOpen = onOpen;
    this.list = $("#jobs-list", root);
    this.error = $("#jobs-error", root);
    this.status = "";
    this.filter = h(
      "select",
      {
        id: "jobs-filter",
        onchange: () => {
          this.status = this.filter.value;
          this.load().catch(() => {});
        },
      },
      ...FILTERS.map(([value, label]) => h("option", { value }, label)),
    );
    this.list.before(
      h("p", { class: "row" }, h("label", { for: "jobs-filter" }, "Show "), this.filter),
    );
    // A failure is shown in the list's error line; nothing else to do with it here.
    $("#jobs-refresh", root).addEventListener("click", () => this.load().catch(() => {}));
  }

  async load() {
    try {
      const only = this.status ? `&status=${encodeURIComponent(this.status)}` : "";
      const page = await this.api.get(`${API}/jobs?limit=10${only}`);
      this.error.hidden = true;
      this.show(page.items);
      return page;
    } catch (error) {
      this.error.hidden = false;
      this.error.textContent = `Jobs could not be listed: ${describeError(error)}`;
      throw error;
    }
  }

  show(jobs) {
    if (!jobs.length) {
      const none = this.status
        ? `No ${this.status.replace(/_/g, " ")} jobs.`
        : "No jobs yet: write a brief below.";
      this.list.replaceChildren(h("li", { class: "muted" }, none));
      return;
    }
    this.list.replaceChildren(
      ...jobs.map((job) =>
        h(
          "li",
          {},
          h(
            "button",
            { type: "button", class: "link", onclick: () => this.onOpen(job) },
            `Open ${job.campaign_id} (job ${job.id.slice(0, 8)})`,
          ),
          h(
            "span",
            { class: "muted" },
            ` · ${job.status.replace(/_/g, " ")} · ${new Date(job.created_at).toLocaleString()}`,
          ),
          job.status === "paused" && job.paused
            ? [
                " ",
                h(
                  "span",
                  { class: "paused-badge small", dataset: { job: job.id } },
                  pauseReason(job.paused),
                ),
              ]
            : null,
          job.checks_status
            ? [
                " ",
                h(
                  "span",
                  {
                    class: "checks-badge small",
                    dataset: { status: job.checks_status, job: job.id },
                  },
                  `Checks: ${CHECKS_TEXT[job.checks_status] || job.checks_status}`,
                ),
              ]
            : null,
        ),
      ),
    );
  }
}
