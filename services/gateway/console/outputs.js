// Finished videos: a player per variation (seeking works: the gateway answers Range
// requests) with its captions track and Content Credentials, what the variation tests, its
// contact sheet, download links (video, captions as WebVTT and SRT), and exports to another
// aspect ratio.

import { API } from "./api.js";
import { $, announce, byteSize, describeError, h, seconds, showError, withToken } from "./dom.js";

const ASPECTS = ["9:16", "1:1", "16:9"];

function aspectOf(output) {
  if (output.aspect) return output.aspect;
  if (output.width === output.height) return "1:1";
  return output.width < output.height ? "9:16" : "16:9";
}

function baseName(job) {
  return `${job.campaign_id}-${job.id.slice(0, 8)}`.replace(/[^A-Za-z0-9_.-]+/g, "-");
}

function fileName(job, output) {
  const base = baseName(job);
  const aspect = aspectOf(output).replace(":", "x");
  return output.kind === "export"
    ? `${base}-v${output.variation}-${aspect}.mp4`
    : `${base}-v${output.variation}.mp4`;
}

/** A rendered variation's side file (`captions.vtt`, `captions.srt`, `contact-sheet.jpg`). */
function sideUrl(job, output, name) {
  return `${API}/jobs/${job.id}/${name}?variation=${output.variation}`;
}

const STYLE_NAMES = { bold: "Bold", clean: "Clean", social: "Social" };
// The IPTC digital source types a file's Content Credentials declare, in words.
const SOURCE_TYPES = {
  trainedAlgorithmicMedia: "made by generative AI",
  compositeWithTrainedAlgorithmicMedia: "generative AI composited with graphics",
  compositeSynthetic: "composite of computer-made elements",
  digitalCreation: "made with digital tools",
};

/** What a file's Content Credentials (C2PA) say: signed or not, its source type, models. */
function credentialsParts(credentials) {
  if (!credentials) return ["Content Credentials: none"];
  if (!credentials.signed) return ["Content Credentials: not signed"];
  const type = credentials.digital_source_type;
  const parts = ["Content Credentials: signed"];
  if (type) {
    parts.push(` · ${SOURCE_TYPES[type] || type} (`, h("code", {}, type), ")");
  }
  if (credentials.models?.length) parts.push(` · models: ${credentials.models.join(", ")}`);
  if (credentials.generator) parts.push(` · by ${credentials.generator}`);
  return parts;
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
    this.credentials = new Map(); // output URL -> its Content Credentials line
    this.job = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.requestExport();
    });
  }

  reset() {
    this.shown.clear();
    this.credentials.clear();
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
    for (const output of job.outputs) this.showCredentials(output);
    const fresh = job.outputs.filter((o) => !this.shown.has(o.url));
    if (!fresh.length) return;
    const token = await this.session.mediaToken(this.api);
    for (const output of fresh) {
      if (this.shown.has(output.url)) continue;
      this.shown.add(output.url);
      const list = output.kind === "export" ? this.exports : this.videos;
      list.append(this.player(job, output, token));
      this.showCredentials(output);
    }
  }

  showCredentials(output) {
    const line = this.credentials.get(output.url);
    if (!line) return;
    const signature = JSON.stringify(output.credentials ?? null);
    if (line.dataset.signature === signature) return;
    line.dataset.signature = signature;
    line.dataset.signed = String(Boolean(output.credentials?.signed));
    line.replaceChildren(...credentialsParts(output.credentials));
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
    const render = output.kind === "render";
    const captions = render && output.captions_key ? sideUrl(job, output, "captions.vtt") : null;
    const track = captions
      ? h("track", {
          id: `${slug}-track`,
          kind: "captions",
          srclang: "en",
          label: "English",
          default: true,
          src: withToken(captions, token),
        })
      : null;
    const video = h(
      "video",
      {
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
      },
      track,
    );
    this.renewOnExpiry(video, output, track, captions);
    const details = `${output.width}×${output.height} · ${seconds(output.duration_s)} · ${byteSize(output.size_bytes)}`;
    const credentials = h("p", {
      class: "credentials",
      id: `${slug}-credentials`,
      dataset: { signed: "", signature: "" },
    });
    this.credentials.set(output.url, credentials);
    const player = h(
      "figure",
      { class: "player" },
      video,
      h("figcaption", {}, h("strong", {}, label), ` · ${details}`, credentials),
    );
    return h(
      "li",
      { class: render ? "video-card render-card" : "video-card" },
      render ? this.about(output, slug) : null,
      h(
        "div",
        { class: "media-pair" },
        player,
        render ? this.contactSheet(job, output, slug, token) : null,
      ),
      h(
        "div",
        { class: "row downloads" },
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
        captions ? this.captionLinks(job, output, slug, token) : null,
      ),
    );
  }

  /** The variation's look and what it tests, from the render (set by the planner). */
  about(output, slug) {
    if (!output.style && !output.hypothesis) return null;
    return h(
      "dl",
      { class: "variation-about", id: `${slug}-about` },
      output.style
        ? h(
            "div",
            {},
            h("dt", {}, "Style"),
            h("dd", { id: `${slug}-style` }, STYLE_NAMES[output.style] || output.style),
          )
        : null,
      output.hypothesis
        ? h(
            "div",
            {},
            h("dt", {}, "Tests"),
            h("dd", { id: `${slug}-hypothesis` }, output.hypothesis),
          )
        : null,
    );
  }

  contactSheet(job, output, slug, token) {
    if (!output.contact_sheet_key) return null;
    const url = sideUrl(job, output, "contact-sheet.jpg");
    const img = h("img", {
      id: `${slug}-contact-sheet`,
      class: "contact-sheet",
      src: withToken(url, token),
      alt: `Contact sheet of variation ${output.variation}: one frame of each scene, labelled with its scene number and time`,
      loading: "lazy",
    });
    this.renewImage(img, url);
    return h(
      "figure",
      { class: "sheet" },
      h(
        "a",
        {
          href: withToken(url, token),
          id: `${slug}-contact-sheet-link`,
          target: "_blank",
          rel: "noopener",
          "aria-label": `Open the contact sheet of variation ${output.variation} full size`,
        },
        img,
      ),
      h("figcaption", {}, `Contact sheet of variation ${output.variation}`),
    );
  }

  captionLinks(job, output, slug, token) {
    const base = `${baseName(job)}-v${output.variation}`;
    return ["vtt", "srt"].map((ext) =>
      h(
        "a",
        {
          class: "button",
          id: `${slug}-captions-${ext}`,
          href: withToken(sideUrl(job, output, `captions.${ext}`), token),
          download: `${base}.${ext}`,
        },
        `Download captions (.${ext}) of variation ${output.variation}`,
      ),
    );
  }

  renewOnExpiry(video, output, track, captions) {
    // A media token may run out while the page stays open; one retry with a new one,
    // at the same position.
    let retried = false;
    video.addEventListener("error", async () => {
      if (retried) return;
      retried = true;
      const at = video.currentTime;
      const token = await this.session.mediaToken(this.api, { renew: true });
      video.src = withToken(output.url, token);
      if (track) track.src = withToken(captions, token);
      video.addEventListener("loadedmetadata", () => (video.currentTime = at), { once: true });
    });
  }

  renewImage(img, url) {
    let retried = false;
    img.addEventListener("error", async () => {
      if (retried) return;
      retried = true;
      const token = await this.session.mediaToken(this.api, { renew: true });
      img.src = withToken(url, token);
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
