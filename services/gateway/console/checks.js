// The job's checks (`GET /jobs/{id}/checks`): preflight findings on the storyboard, each at
// its scene with the scene's frame; the override when the storyboard was approved despite
// errors, and "Approve anyway" (with a reason) while it has some; then the QC measured on
// every rendered file, each finding at its time range with the frame QC kept.

import { API } from "./api.js";
import { $, announce, describeError, h, showError, withToken } from "./dom.js";

export const CHECKS_TEXT = { pass: "Pass", warn: "Warnings", fail: "Errors" };
const SEVERITY_TEXT = { error: "Error", warning: "Warning", info: "Info" };

/** A badge saying a checks status in words (its colour only repeats them). */
export function checksBadge(status, props = {}) {
  return h(
    "span",
    { class: "checks-badge", dataset: { status: status || "none" }, ...props },
    status ? CHECKS_TEXT[status] || status : "Not checked yet",
  );
}

/** 3.24 → "0:03.2": minutes, then seconds to a tenth. */
export function clock(seconds) {
  const tenths = Math.round(Number(seconds) * 10);
  const minutes = Math.floor(tenths / 600);
  const rest = (tenths - minutes * 600) / 10;
  return `${minutes}:${rest.toFixed(1).padStart(4, "0")}`;
}

/** Where a finding is: its scene (preflight) or its time range in the file (QC). */
export function findingPlace(finding) {
  if (finding.start_s !== null && finding.start_s !== undefined) {
    const end = finding.end_s;
    return end !== null && end !== undefined && end > finding.start_s
      ? `${clock(finding.start_s)}–${clock(end)}`
      : `at ${clock(finding.start_s)}`;
  }
  if (finding.scene) return `Scene ${finding.scene}`;
  return "Whole video";
}

function outputLabel(output) {
  if (output.kind !== "export") return `Variation ${output.variation}`;
  return `Export ${output.aspect ? `${output.aspect} ` : ""}of variation ${output.variation}`;
}

const round = (value) => Math.round(value * 100) / 100;

function errorsOf(report) {
  return report ? report.findings.filter((f) => f.severity === "error") : [];
}

export class ChecksView {
  constructor(root, { api, session, onJob, refusedBox }) {
    this.root = root;
    this.api = api;
    this.session = session;
    this.onJob = onJob;
    this.badge = $("#checks-status", root);
    this.error = $("#checks-error", root);
    this.preflightSummary = $("#preflight-summary", root);
    this.preflightList = $("#preflight-findings", root);
    this.override = $("#preflight-override", root);
    this.overrideForm = $("#override-form", root);
    this.reason = $("#override-reason", root);
    this.overrideError = $("#override-error", root);
    this.qcSection = $("#qc-section", root);
    this.qcList = $("#qc-outputs", root);
    this.refusedBox = refusedBox;
    this.signature = "";
    this.sequence = 0;
    this.job = null;
    this.overrideForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.approveAnyway();
    });
  }

  reset() {
    this.signature = "";
    this.reason.value = "";
    showError(this.overrideError, "");
    this.clearRefused();
  }

  /** Called with every state of the job; asks the gateway again only when the checks, the
   * frames or the status changed. */
  async render(job) {
    this.job = job;
    const storyboard = job.storyboard;
    this.root.hidden = !storyboard && !job.preflight;
    if (this.root.hidden) return;
    this.showOverrideForm(job);
    if (job.status !== "storyboard_ready") this.clearRefused();
    const signature = JSON.stringify([
      job.id,
      job.status,
      job.checks_status,
      job.preflight,
      job.preflight_override,
      job.outputs.map((o) => [o.url, o.qc, o.credentials]),
      (storyboard?.scenes || []).map((s) => s.image_url),
    ]);
    if (signature === this.signature) return;
    this.signature = signature;
    const sequence = ++this.sequence;
    let checks, token;
    try {
      [checks, token] = await Promise.all([
        this.api.get(`${API}/jobs/${job.id}/checks`),
        this.session.mediaToken(this.api),
      ]);
    } catch (error) {
      if (sequence === this.sequence) {
        this.signature = ""; // ask again with the next update
        showError(this.error, `The checks could not be loaded: ${describeError(error)}`);
      }
      return;
    }
    if (sequence !== this.sequence) return; // a newer state is being drawn
    showError(this.error, "");
    // The refused approval named the storyboard it was about; a new check replaces it.
    if (this.refusedAt && this.refusedAt !== job.preflight?.checked_at) this.clearRefused();
    this.show(checks, job, token);
  }

  show(checks, job, token) {
    const badge = checksBadge(checks.status, { id: "checks-status" });
    this.badge.replaceWith(badge);
    this.badge = badge;
    this.showPreflight(checks, job, token);
    this.showOverride(checks.override);
    this.showQc(checks.outputs, token);
  }

  showPreflight(checks, job, token) {
    const report = checks.preflight;
    if (!report) {
      this.preflightSummary.textContent = "The storyboard has not been checked yet.";
      this.preflightList.replaceChildren();
      return;
    }
    const errors = errorsOf(report).length;
    const others = report.findings.length - errors;
    const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
    this.preflightSummary.textContent = report.findings.length
      ? `${plural(errors, "error")}, ${plural(others, "other finding")}` +
        (!errors
          ? "."
          : checks.override
            ? ": overridden when the storyboard was approved (below)."
            : ": errors block approval until fixed or overridden.")
      : "No findings: the storyboard passes every preflight check.";
    const scenes = new Map((job.storyboard?.scenes || []).map((s) => [s.index, s]));
    this.preflightList.replaceChildren(
      ...report.findings.map((finding, i) => {
        const scene = finding.scene ? scenes.get(finding.scene) : null;
        const thumb = scene?.image_url
          ? { url: scene.image_url, alt: `Storyboard frame of scene ${finding.scene}` }
          : null;
        return this.finding(finding, `preflight-finding-${i + 1}`, thumb, token);
      }),
    );
  }

  showOverride(override) {
    this.override.hidden = !override;
    if (!override) return;
    const at = new Date(override.at).toLocaleString();
    const checks = override.findings.length ? ` (${override.findings.join(", ")})` : "";
    this.override.replaceChildren(
      h("strong", {}, "Approved despite errors"),
      checks,
      " by ",
      h("span", { id: "override-by" }, override.by),
      ` on ${at}: `,
      h("q", { id: "override-reason-shown" }, override.reason),
    );
  }

  showOverrideForm(job) {
    const blocked = job.status === "storyboard_ready" && errorsOf(job.preflight).length > 0;
    this.overrideForm.hidden = !blocked;
  }

  showQc(outputs, token) {
    this.qcSection.hidden = outputs.length === 0;
    this.qcList.replaceChildren(
      ...outputs.map((output, k) => {
        const slug = `qc-${k + 1}`;
        const label = outputLabel(output);
        const qc = output.qc;
        const body = qc
          ? [
              h(
                "p",
                { class: "muted" },
                qc.findings.length
                  ? `${qc.findings.length} finding${qc.findings.length === 1 ? "" : "s"}`
                  : "No findings",
                ` · measured in ${Number(qc.seconds).toFixed(1)} s`,
              ),
              h(
                "ul",
                { class: "plain findings", id: `${slug}-findings` },
                qc.findings.map((finding, i) =>
                  this.finding(
                    finding,
                    `${slug}-finding-${i + 1}`,
                    finding.thumbnail_url
                      ? {
                          url: finding.thumbnail_url,
                          alt: `Frame of ${label.toLowerCase()} at ${clock(finding.start_s ?? 0)}`,
                        }
                      : null,
                    token,
                  ),
                ),
              ),
              this.measured(qc.measured, slug, label),
            ]
          : [h("p", { class: "muted" }, "Not measured yet.")];
        return h(
          "li",
          {
            class: "qc-output",
            id: slug,
            dataset: { kind: output.kind, variation: output.variation },
          },
          h(
            "h5",
            { class: "row spread" },
            h("span", {}, label),
            checksBadge(qc ? qc.status : null, { id: `${slug}-status` }),
          ),
          ...body,
        );
      }),
    );
  }

  measured(figures, slug, label) {
    const entries = Object.entries(figures || {});
    if (!entries.length) return null;
    return h(
      "details",
      { id: `${slug}-measured` },
      h("summary", {}, `What was measured on ${label.toLowerCase()}`),
      h(
        "table",
        {},
        h("caption", { class: "visually-hidden" }, `Measurements of ${label.toLowerCase()}`),
        h(
          "tbody",
          {},
          entries.map(([name, value]) =>
            h(
              "tr",
              {},
              h("th", { scope: "row" }, name.replace(/_/g, " ")),
              h("td", {}, typeof value === "number" ? `${round(value)}` : `${value}`),
            ),
          ),
        ),
      ),
    );
  }

  /** One finding: severity in words, where it is, the check, the message, its frame. */
  finding(finding, id, thumb, token) {
    return h(
      "li",
      {
        class: "finding",
        id,
        dataset: { severity: finding.severity, check: finding.check },
      },
      thumb
        ? h("img", {
            class: "finding-thumb",
            id: `${id}-thumb`,
            src: withToken(thumb.url, token),
            alt: thumb.alt,
            loading: "lazy",
          })
        : null,
      h(
        "div",
        { class: "finding-text" },
        h(
          "p",
          { class: "finding-head" },
          h(
            "span",
            { class: "severity", dataset: { severity: finding.severity } },
            SEVERITY_TEXT[finding.severity] || finding.severity,
          ),
          " ",
          h("span", { class: "finding-place", id: `${id}-place` }, findingPlace(finding)),
          " ",
          h("code", { class: "finding-check" }, finding.check),
        ),
        h("p", { class: "finding-message", id: `${id}-message` }, finding.message),
      ),
    );
  }

  /** The 409 of a plain approval: say which errors block it, and how to go on. */
  refused(error) {
    const findings = error.details?.findings || [];
    this.refusedAt = this.job?.preflight?.checked_at || "refused";
    const count = `${findings.length} preflight error${findings.length === 1 ? "" : "s"}`;
    const box = this.refusedBox;
    box.replaceChildren(
      h(
        "p",
        { class: "refused-title" },
        h("strong", {}, "Approval refused: "),
        findings.length ? `the storyboard has ${count}.` : error.message,
      ),
      h(
        "ul",
        { id: "approve-refused-findings" },
        findings.map((finding) =>
          h(
            "li",
            { dataset: { check: finding.check } },
            `${findingPlace(finding)}: ${finding.message} `,
            h("code", {}, finding.check),
          ),
        ),
      ),
      h(
        "p",
        {},
        "Fix the storyboard (edit or refine the scene), or give a reason and choose " +
          "“Approve anyway” under Checks.",
      ),
    );
    box.hidden = false;
    this.showOverrideForm(this.job);
  }

  clearRefused() {
    this.refusedAt = null;
    this.refusedBox.hidden = true;
    this.refusedBox.replaceChildren();
  }

  async approveAnyway() {
    showError(this.overrideError, "");
    const reason = this.reason.value.trim();
    if (reason.length < 3) {
      showError(
        this.overrideError,
        "Write why the storyboard may run despite its errors (at least 3 characters).",
      );
      this.reason.setAttribute("aria-invalid", "true");
      this.reason.focus();
      return;
    }
    this.reason.removeAttribute("aria-invalid");
    const button = $("#override-button", this.root);
    button.disabled = true;
    try {
      const job = await this.api.post(`${API}/jobs/${this.job.id}/approve`, {
        override: { reason },
      });
      this.clearRefused();
      this.reason.value = "";
      this.onJob(job);
      announce("Storyboard approved despite its preflight errors");
    } catch (error) {
      showError(this.overrideError, describeError(error));
    } finally {
      button.disabled = false;
    }
  }
}
