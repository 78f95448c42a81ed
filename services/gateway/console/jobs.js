// The client's recent jobs (with their checks status), to reopen one.

import { API } from "./api.js";
import { CHECKS_TEXT } from "./checks.js";
import { $, describeError, h } from "./dom.js";

export class JobsList {
  constructor(root, { api, onOpen }) {
    this.root = root;
    this.api = api;
    this.onOpen = onOpen;
    this.list = $("#jobs-list", root);
    this.error = $("#jobs-error", root);
    // A failure is shown in the list's error line; nothing else to do with it here.
    $("#jobs-refresh", root).addEventListener("click", () => this.load().catch(() => {}));
  }

  async load() {
    try {
      const page = await this.api.get(`${API}/jobs?limit=10`);
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
      this.list.replaceChildren(h("li", { class: "muted" }, "No jobs yet: write a brief below."));
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
