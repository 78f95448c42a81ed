// Uploads: drop files on the zone or pick them; each shows a local preview at once, then
// what the gateway made of it (kind, size) or why it refused it. Accepted assets are
// offered for the brief: a logo and a font go to the brand, the rest to `assets`.

import { API } from "./api.js";
import { $, byteSize, describeError, h, withToken } from "./dom.js";

let counter = 0;

function previewOf(file, url) {
  const alt = `Preview of ${file.name}`;
  if (file.type.startsWith("image/")) return h("img", { src: url, alt, class: "preview" });
  if (file.type.startsWith("video/")) {
    return h("video", {
      src: url,
      muted: true,
      preload: "metadata",
      "aria-label": alt,
      class: "preview",
    });
  }
  if (file.type.startsWith("audio/")) {
    return h("audio", { src: url, controls: true, preload: "metadata", "aria-label": alt });
  }
  return h(
    "span",
    { class: "preview preview-file", "aria-hidden": "true" },
    file.name.split(".").pop() || "file",
  );
}

function describeAsset(asset) {
  const parts = [asset.kind];
  if (asset.width && asset.height) parts.push(`${asset.width}×${asset.height} px`);
  if (asset.duration_s) parts.push(`${asset.duration_s.toFixed(1)} s`);
  parts.push(byteSize(asset.bytes));
  return parts.join(" · ");
}

export class AssetsPanel {
  constructor(root, { api, session, onChange }) {
    this.root = root;
    this.api = api;
    this.session = session;
    this.onChange = onChange;
    this.list = $("#asset-list", root);
    this.input = $("#asset-input", root);
    this.kind = $("#asset-kind", root);
    this.zone = $("#drop-zone", root);
    this.accepted = new Map(); // asset_id -> {asset, checkbox}
    $("#asset-choose", root).addEventListener("click", () => this.input.click());
    this.input.addEventListener("change", () => {
      this.add([...this.input.files]);
      this.input.value = "";
    });
    for (const type of ["dragenter", "dragover"]) {
      this.zone.addEventListener(type, (event) => {
        if (!event.dataTransfer || !event.dataTransfer.types.includes("Files")) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "copy";
        this.zone.classList.add("over");
      });
    }
    this.zone.addEventListener("dragleave", () => this.zone.classList.remove("over"));
    this.zone.addEventListener("drop", (event) => {
      event.preventDefault();
      this.zone.classList.remove("over");
      this.add([...(event.dataTransfer?.files || [])]);
    });
  }

  reset() {
    for (const img of this.list.querySelectorAll("[data-object-url]")) {
      URL.revokeObjectURL(img.dataset.objectUrl);
    }
    this.list.replaceChildren();
    this.accepted.clear();
  }

  /** The client's earlier uploads, offered but not selected. */
  async load() {
    try {
      const page = await this.api.get(`${API}/assets?limit=50`);
      if (!page.items.length) return;
      const token = await this.session.mediaToken(this.api);
      for (const asset of page.items.reverse()) {
        const thumb = asset.thumbnail_url
          ? h("img", {
              src: withToken(asset.thumbnail_url, token),
              alt: `Thumbnail of ${asset.original_name || asset.kind}`,
              class: "preview",
            })
          : h("span", { class: "preview preview-file", "aria-hidden": "true" }, asset.kind);
        const item = this.item(asset.original_name || asset.asset_id, thumb);
        this.list.append(item.li);
        this.accept(item, asset, false);
      }
    } catch (error) {
      // Not fatal: the list is a convenience; new uploads still work.
      const note = h(
        "li",
        { class: "error", role: "alert" },
        `Earlier uploads could not be listed: ${describeError(error)}`,
      );
      this.list.append(note);
    }
  }

  item(name, preview) {
    const id = `asset-${++counter}`;
    const status = h("p", { class: "asset-status", id: `${id}-status`, role: "status" });
    const error = h("p", { class: "error", id: `${id}-error`, role: "alert", hidden: true });
    const progress = h("progress", {
      max: 1,
      value: 0,
      id: `${id}-progress`,
      "aria-label": `Upload of ${name}`,
    });
    const li = h(
      "li",
      { class: "asset-card", id },
      preview,
      h(
        "div",
        { class: "asset-body" },
        h("p", { class: "asset-name" }, name),
        progress,
        status,
        error,
      ),
    );
    return { id, li, status, error, progress, name };
  }

  add(files) {
    const kind = this.kind.value || "";
    for (const file of files) {
      const url = URL.createObjectURL(file);
      const preview = previewOf(file, url);
      preview.dataset.objectUrl = url;
      const item = this.item(file.name, preview);
      this.list.prepend(item.li);
      this.upload(item, file, kind);
    }
  }

  async upload(item, file, kind) {
    item.status.textContent = `Uploading ${byteSize(file.size)}…`;
    try {
      const asset = await this.api.upload(file, kind, (fraction) => {
        item.progress.value = fraction;
      });
      this.accept(item, asset, true);
    } catch (error) {
      item.progress.remove();
      item.status.textContent = "";
      item.li.classList.add("refused");
      item.error.hidden = false;
      item.error.textContent = `Refused: ${describeError(error)}`;
      item.li
        .querySelector(".asset-body")
        .append(
          h(
            "button",
            { type: "button", onclick: () => this.dismiss(item) },
            `Dismiss ${item.name}`,
          ),
        );
    }
  }

  accept(item, asset, selected) {
    item.progress.remove();
    item.li.classList.add("accepted");
    item.li.dataset.assetId = asset.asset_id;
    item.status.textContent = `Accepted: ${describeAsset(asset)}`;
    const checkboxId = `${item.id}-use`;
    const checkbox = h("input", {
      type: "checkbox",
      id: checkboxId,
      checked: selected,
      onchange: () => this.onChange(),
    });
    const role =
      asset.kind === "logo" ? " as the logo" : asset.kind === "font" ? " as the caption font" : "";
    item.li
      .querySelector(".asset-body")
      .append(
        h(
          "div",
          { class: "row" },
          checkbox,
          h("label", { for: checkboxId }, `Use ${item.name} in the brief${role}`),
        ),
      );
    this.accepted.set(asset.asset_id, { asset, checkbox });
    this.onChange();
  }

  dismiss(item) {
    const preview = item.li.querySelector("[data-object-url]");
    if (preview) URL.revokeObjectURL(preview.dataset.objectUrl);
    item.li.remove();
  }

  /** The selected assets as brief fields: `assets`, `brand.logo_asset_id`, `brand.font_asset_id`. */
  selection() {
    const chosen = { assets: [], logo: null, font: null };
    for (const { asset, checkbox } of this.accepted.values()) {
      if (!checkbox.checked) continue;
      if (asset.kind === "logo" && !chosen.logo) chosen.logo = asset.asset_id;
      else if (asset.kind === "font" && !chosen.font) chosen.font = asset.asset_id;
      else if (asset.kind !== "logo" && asset.kind !== "font") chosen.assets.push(asset.asset_id);
    }
    return chosen;
  }
}
