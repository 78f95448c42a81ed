// The storyboard as a gallery of frames: script and caption edited inline (PATCH
// .../storyboard), one scene refined with feedback, scenes reordered with buttons (and
// by dragging, for pointer users).

import { API } from "./api.js";
import { $, $$, announce, describeError, h, seconds, showError, withToken } from "./dom.js";

const EDITABLE = new Set(["storyboard_ready", "approved"]);

function sceneKey(scene) {
  // A scene keeps its frame through reorders; the frame's key identifies it.
  return scene.image_key || `${scene.beat}:${scene.visual_prompt}`;
}

export class StoryboardView {
  constructor(root, { api, session, onJob }) {
    this.root = root;
    this.api = api;
    this.session = session;
    this.onJob = onJob;
    this.fieldset = $("#storyboard-fieldset", root);
    this.gallery = $("#storyboard-gallery", root);
    this.error = $("#storyboard-error", root);
    this.leftOut = $("#claims-left-out", root);
    this.plans = $("#variation-plans", root);
    this.plansBody = $("#variation-plans-body", root);
    this.signature = "";
    this.job = null;
    this.focusAfterRender = null;
  }

  async render(job) {
    this.job = job;
    const storyboard = job.storyboard;
    this.root.hidden = !storyboard;
    if (!storyboard) return;
    this.fieldset.disabled = !EDITABLE.has(job.status);
    this.renderPlan(storyboard);
    const signature = JSON.stringify(storyboard.scenes);
    if (signature === this.signature) return;
    this.signature = signature;
    let mediaToken;
    try {
      mediaToken = await this.session.mediaToken(this.api);
    } catch (error) {
      this.signature = ""; // draw it with the next update
      throw error;
    }
    if (this.signature !== signature) return; // other scenes arrived meanwhile: drawn by that call
    const drafts = this.drafts();
    const focused =
      document.activeElement && this.gallery.contains(document.activeElement)
        ? document.activeElement.id
        : null;
    const count = storyboard.scenes.length;
    this.gallery.replaceChildren(
      ...storyboard.scenes.map((scene) => this.card(scene, count, mediaToken, drafts)),
    );
    const target = this.focusAfterRender || focused;
    this.focusAfterRender = null;
    if (target) this.focus(target);
  }

  /** What the planner decided beside the scenes: claims cut for length, and what each
   * variation tests (its look, hook and ask). Older storyboards have neither. */
  renderPlan(storyboard) {
    const leftOut = storyboard.claims_left_out || [];
    this.leftOut.hidden = leftOut.length === 0;
    this.leftOut.textContent = leftOut.length ? `Left out for length: ${leftOut.join("; ")}` : "";
    const plans = storyboard.variations || [];
    this.plans.hidden = plans.length === 0;
    this.plansBody.replaceChildren(
      ...plans.map((plan) =>
        h(
          "tr",
          { id: `variation-plan-${plan.variation}`, dataset: { variation: plan.variation } },
          h("th", { scope: "row" }, `Variation ${plan.variation}`),
          h("td", { class: "plan-style" }, plan.style),
          h(
            "td",
            { class: "plan-hook" },
            plan.hook,
            plan.hook_angle ? h("span", { class: "muted" }, ` (${plan.hook_angle})`) : null,
          ),
          h("td", { class: "plan-cta" }, plan.call_to_action),
          h("td", { class: "plan-hypothesis" }, plan.hypothesis),
        ),
      ),
    );
  }

  focus(id) {
    // A scene moved to an end has that move button disabled: focus its other one.
    const other = id.endsWith("-later")
      ? id.replace(/-later$/, "-earlier")
      : id.replace(/-earlier$/, "-later");
    for (const candidate of [id, other]) {
      const el = document.getElementById(candidate);
      if (el && !el.disabled) {
        el.focus();
        return;
      }
    }
  }

  /** Unsaved text in the cards, by scene, so an update from elsewhere keeps it. */
  drafts() {
    const drafts = new Map();
    for (const card of $$(".scene-card", this.gallery)) {
      const fields = {};
      for (const input of $$("[data-field]", card)) {
        if (input.value !== input.defaultValue) fields[input.dataset.field] = input.value;
      }
      if (Object.keys(fields).length) drafts.set(card.dataset.key, fields);
    }
    return drafts;
  }

  card(scene, count, mediaToken, drafts) {
    const n = scene.index;
    const id = (part) => `scene-${n}-${part}`;
    const draft = drafts.get(sceneKey(scene)) || {};
    const field = (name, label, tag, value) => {
      const props = { id: id(name), "data-field": name, rows: tag === "textarea" ? 3 : null };
      const input = h(tag, props);
      input.defaultValue = value;
      input.value = draft[name] ?? value;
      input.addEventListener("input", () => this.markDirty(card));
      return [h("label", { for: id(name) }, label), input];
    };
    const status = h("p", { id: id("status"), class: "scene-status", role: "status" });
    const card = h(
      "li",
      { class: "scene-card", dataset: { key: sceneKey(scene), index: n } },
      h(
        "article",
        { "aria-labelledby": id("title") },
        h(
          "h3",
          { id: id("title") },
          // Pointer users drag the handle (not the card: text in its fields stays
          // selectable); keyboard and screen-reader users have the buttons below.
          h(
            "span",
            {
              class: "drag-handle",
              draggable: "true",
              title: "Drag to reorder",
              "aria-hidden": "true",
            },
            "⠿",
          ),
          `Scene ${n}`,
          h(
            "span",
            { class: "scene-meta" },
            ` · ${scene.beat || "scene"} · ${seconds(scene.duration_s)}`,
          ),
        ),
        h(
          "div",
          { class: "frame-wrap" },
          h("img", {
            src: withToken(scene.image_url, mediaToken),
            alt: `Storyboard frame for scene ${n}: ${scene.visual_prompt}`,
            class: "frame",
            id: id("frame"),
          }),
          // Review chrome drawn by the console (the frames carry no counter); the heading
          // already names the scene, so screen readers skip it.
          h("span", { class: "scene-badge", id: id("badge"), "aria-hidden": "true" }, String(n)),
        ),
        h("p", { class: "scene-revision", id: id("revision") }, `Revision ${scene.revision}`),
        field("script", "Script", "textarea", scene.script),
        field("caption", "Caption", "input", scene.caption),
        h(
          "div",
          { class: "row" },
          h(
            "button",
            { type: "button", id: id("save"), disabled: true, onclick: () => this.save(card, n) },
            "Save text",
          ),
        ),
        h("label", { for: id("feedback") }, `Feedback for scene ${n}`),
        h("textarea", {
          id: id("feedback"),
          rows: 2,
          placeholder: "e.g. brighter, show the product closer",
        }),
        h(
          "div",
          { class: "row" },
          h(
            "button",
            { type: "button", id: id("refine"), onclick: () => this.refine(n) },
            `Refine scene ${n}`,
          ),
        ),
        h(
          "div",
          { class: "row reorder", role: "group", "aria-label": `Order of scene ${n}` },
          h(
            "button",
            {
              type: "button",
              id: id("earlier"),
              "aria-label": `Move scene ${n} earlier`,
              disabled: n === 1,
              onclick: () => this.move(n, -1),
            },
            "↑ Earlier",
          ),
          h(
            "button",
            {
              type: "button",
              id: id("later"),
              "aria-label": `Move scene ${n} later`,
              disabled: n === count,
              onclick: () => this.move(n, +1),
            },
            "Later ↓",
          ),
        ),
        status,
      ),
    );
    if (Object.keys(draft).length) this.markDirty(card);
    this.dragHandlers(card, n);
    return card;
  }

  markDirty(card) {
    const dirty = $$("[data-field]", card).some((input) => input.value !== input.defaultValue);
    $("button[id$='-save']", card).disabled = !dirty;
    card.classList.toggle("dirty", dirty);
  }

  dragHandlers(card, n) {
    const handle = $(".drag-handle", card);
    handle.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("text/x-scene-index", String(n));
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setDragImage(card, 20, 20);
      card.classList.add("dragging");
    });
    handle.addEventListener("dragend", () => card.classList.remove("dragging"));
    card.addEventListener("dragover", (event) => {
      if (event.dataTransfer.types.includes("text/x-scene-index")) event.preventDefault();
    });
    card.addEventListener("drop", (event) => {
      const from = Number(event.dataTransfer.getData("text/x-scene-index"));
      if (!from || from === n || this.fieldset.disabled) return;
      event.preventDefault();
      this.reorder(from, n);
    });
  }

  async send(request, statusEl, pending) {
    showError(this.error, "");
    if (statusEl) statusEl.textContent = pending;
    try {
      const job = await request();
      this.onJob(job);
      return job;
    } catch (error) {
      if (statusEl) statusEl.textContent = "";
      showError(this.error, describeError(error));
      return null;
    }
  }

  async save(card, n) {
    const change = { index: n };
    for (const input of $$("[data-field]", card)) {
      if (input.value !== input.defaultValue) change[input.dataset.field] = input.value;
    }
    const status = $(`#scene-${n}-status`, card);
    const job = await this.send(
      () => this.api.patch(`${API}/jobs/${this.job.id}/storyboard`, { scenes: [change] }),
      status,
      "Saving…",
    );
    if (job) {
      for (const input of $$("[data-field]", card)) input.defaultValue = input.value;
      this.markDirty(card);
      const done = document.getElementById(`scene-${n}-status`);
      if (done) done.textContent = "Saved";
      announce(`Scene ${n} saved`);
    }
  }

  async refine(n) {
    const feedback = document.getElementById(`scene-${n}-feedback`);
    if (!feedback.value.trim()) {
      showError(this.error, `Write what should change in scene ${n} before refining it.`);
      feedback.focus();
      return;
    }
    const status = document.getElementById(`scene-${n}-status`);
    const job = await this.send(
      () =>
        this.api.post(`${API}/jobs/${this.job.id}/scenes/${n}/refine`, {
          feedback: feedback.value,
        }),
      status,
      "Refining…",
    );
    if (job) announce(`Refining scene ${n}`);
  }

  move(n, step) {
    this.focusAfterRender = `scene-${n + step}-${step < 0 ? "earlier" : "later"}`;
    return this.reorder(n, n + step);
  }

  async reorder(from, to) {
    const order = this.job.storyboard.scenes.map((scene) => scene.index);
    order.splice(order.indexOf(from), 1);
    order.splice(order.indexOf(to) + (to > from ? 1 : 0), 0, from);
    const job = await this.send(
      () => this.api.patch(`${API}/jobs/${this.job.id}/storyboard`, { order }),
      null,
      "",
    );
    if (job) announce(`Scene ${from} moved to position ${to}`);
  }
}
