// Finished videos: a player per variation (seeking works: the gateway answers Range
// requests), a download link each, and exports to another aspect ratio.

import { API } from "./api.js";
import { $, announce, byteSize, describeError, h, seconds, showError, withToken } from "./dom.js";

const ASPECTS = ["9:16", "1:1", "16:9"];

function aspectOf(output) {
  if (output.aspect) return output.aspect;
  if (output.width === output.height) return "1:1";
  return output.width < output.height ? "9:16" : "16:9";
}

function fileName(job, output) {
  const base = `${job.campaign_id}-${job.id.slice(0, 8)}`.replace(/[^A-Za-z0-9_.-]+/g, "-");
  const aspect = aspectOf(output).replace(":", "x");
  return output.kind === "export"
    ? `${base}-v${output.variation}-${aspect}.mp4`
    : `${base}-v${output.variation}.mp4`;
}

export class OutputsView {
  constructor(root, { api, session, watcher }) {
    this.root = root;
    this.api = api;
    this.session = session;
    this.watcher = watcher;
    this.videos = $("#videos-list", root);
    this.exports = $("#exports-list", root);
    this.exportsSection = $("#exports-section", root);
    this.form = $("#export-form", root);
    this.aspect = $("#export-aspect", root);
    this.variation = $("#export-variation", root);
    this.status = $("#export-status", root);
    this.error = $("#export-error", root);
    this.shown = new Set();
    this.job = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.requestExport();
    });
  }

  reset() {
    this.shown.clear();
    this.videos.replaceChildren();
    this.exports.replaceChildren();
    this.status.textContent = "";
    showError(this.error, "");
    this.primed = false;
  }

  async render(job) {
    this.job = job;
    const renders = job.outputs.filter((o) => o.kind === "render");
    const exports = job.outputs.filter((o) => o.kind === "export");
    this.root.hidden = renders.length === 0;
    if (!renders.length) return;
    this.exportsSection.hidden = exports.length === 0;
    this.prime(job, renders);
    const fresh = job.outputs.filter((o) => !this.shown.has(o.url));
    if (!fresh.length) return;
    const token = await this.session.mediaToken(this.api);
    for (const output of fresh) {
      if (this.shown.has(output.url)) continue;
      this.shown.add(output.url);
      const list = output.kind === "export" ? this.exports : this.videos;
      list.append(this.player(job, output, token));
    }
  }

  prime(job, renders) {
    if (this.primed) return;
    this.primed = true;
    this.variation.replaceChildren(
      ...renders.map((o) => h("option", { value: o.variation }, `Variation ${o.variation}`)),
    );
    const native = aspectOf(renders[0]);
    this.aspect.replaceChildren(...ASPECTS.map((a) => h("option", { value: a }, a)));
    this.aspect.value = ASPECTS.find((a) => a !== native);
  }

  player(job, output, token) {
    const label =
      output.kind === "export"
        ? `Export ${aspectOf(output)} of variation ${output.variation}`
        : `Variation ${output.variation}`;
    const slug =
      output.kind === "export"
        ? `export-${output.key.split("/").pop().replace(/\W+/g, "-")}`
        : `variation-${output.variation}`;
    const video = h("video", {
      id: `${slug}-video`,
      controls: true,
      preload: "auto",
      playsinline: true,
      src: withToken(output.url, token),
      poster: output.poster_url ? withToken(output.poster_url, token) : null,
      "aria-label": label,
      dataset: { variation: output.variation, kind: output.kind },
      width: output.width,
      height: output.height,
    });
    this.renewOnExpiry(video, output);
    const details = `${output.width}×${output.height} · ${seconds(output.duration_s)} · ${byteSize(output.size_bytes)}`;
    return h(
      "li",
      { class: "video-card" },
      h("figure", {}, video, h("figcaption", {}, h("strong", {}, label), ` · ${details}`)),
      h(
        "a",
        {
          class: "button",
          id: `${slug}-download`,
          href: withToken(output.url, token),
          download: fileName(job, output),
        },
        `Download ${label.toLowerCase()}`,
      ),
    );
  }

  renewOnExpiry(video, output) {
    // A media token may run out while the page stays open; one retry with a new one,
    // at the same position.
    let retried = false;
    video.addEventListener("error", async () => {
      if (retried) return;
      retried = true;
      const at = video.currentTime;
      const token = await this.session.mediaToken(this.api, { renew: true });
      video.src = withToken(output.url, token);
      video.addEventListener("loadedmetadata", () => (video.currentTime = at), { once: true });
    });
  }

  async requestExport() {
    showError(this.error, "");
    const aspect = this.aspect.value;
    const variation = Number(this.variation.value || 1);
    const before = this.job.outputs.filter((o) => o.kind === "export").length;
    this.status.textContent = `Exporting variation ${variation} to ${aspect}…`;
    try {
      const job = await this.api.post(`${API}/jobs/${this.job.id}/exports`, { aspect, variation });
      this.watcher.update(job);
      this.watcher.expect((next) => {
        const done = next.outputs.filter((o) => o.kind === "export").length > before;
        if (done) {
          this.status.textContent = `Export to ${aspect} ready`;
          announce(`Export to ${aspect} ready`);
        } else if (next.progress.stage === "exporting") {
          this.status.textContent = `${next.progress.message} (${Math.round(next.progress.percent)}%)`;
        }
        return done;
      });
    } catch (error) {
      this.status.textContent = "";
      showError(this.error, describeError(error));
    }
  }
}
