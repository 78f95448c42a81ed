// The brief: the form, brand colours, the estimate shown before submitting (re-quoted
// as the brief changes), and field-level errors from the gateway's 422 details.

import { API } from "./api.js";
import { $, $$, describeError, h, money, showError } from "./dom.js";

const MAX_COLORS = 8;
const ESTIMATE_DELAY_MS = 350;
const FIELD_INPUTS = {
  campaign_id: "brief-campaign",
  prompt: "brief-prompt",
  key_messages: "brief-messages",
  product: "brief-product",
  call_to_action: "brief-cta",
  platform: "brief-platform",
  duration_s: "brief-duration",
  variations: "brief-variations",
  quality: "brief-quality-standard",
  style: "brief-style",
  "brand.tone": "brief-tone",
};
const HEX = /^#(?:[0-9a-fA-F]{3}){1,2}$/;

export class BriefForm {
  constructor(form, { api, assets, onSubmitted }) {
    this.form = form;
    this.api = api;
    this.assets = assets;
    this.onSubmitted = onSubmitted;
    this.colors = $("#brand-colors", form);
    this.estimate = $("#estimate", form);
    this.estimateBody = $("#estimate-body", form);
    this.error = $("#brief-error", form);
    this.submit = $("#brief-submit", form);
    this.sequence = 0;
    this.timer = null;
    $("#add-color", form).addEventListener("click", () => this.addColor("#1a1a2e", true));
    form.addEventListener("input", () => this.changed());
    form.addEventListener("change", () => this.changed());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.addColor("#ff3366");
  }

  addColor(value, focus = false) {
    const rows = $$(".color-row", this.colors);
    if (rows.length >= MAX_COLORS) return;
    const row = h("li", { class: "color-row" });
    this.colors.append(row);
    this.renumberColors(value, row);
    if (focus) $("input[type=text]", row).focus();
    this.changed();
  }

  renumberColors(initial = null, fresh = null) {
    $$(".color-row", this.colors).forEach((row, i) => {
      const n = i + 1;
      const hex = row === fresh ? initial : $("input[type=text]", row).value;
      const picker = h("input", {
        type: "color",
        id: `brand-color-${n}`,
        value: HEX.test(hex) && hex.length === 7 ? hex : "#000000",
      });
      const text = h("input", {
        type: "text",
        id: `brand-color-${n}-hex`,
        value: hex,
        pattern: HEX.source,
        spellcheck: "false",
        autocomplete: "off",
        size: 8,
      });
      picker.addEventListener("input", () => {
        text.value = picker.value;
      });
      text.addEventListener("input", () => {
        if (HEX.test(text.value) && text.value.length === 7)
          picker.value = text.value.toLowerCase();
      });
      row.replaceChildren(
        h("label", { for: `brand-color-${n}` }, `Brand colour ${n}`),
        picker,
        h(
          "label",
          { for: `brand-color-${n}-hex`, class: "visually-hidden" },
          `Brand colour ${n} as hex`,
        ),
        text,
        h(
          "button",
          {
            type: "button",
            "aria-label": `Remove brand colour ${n}`,
            onclick: () => {
              row.remove();
              this.renumberColors();
              this.changed();
              $("#add-color", this.form).focus();
            },
          },
          "Remove",
        ),
      );
    });
    $("#add-color", this.form).disabled = $$(".color-row", this.colors).length >= MAX_COLORS;
  }

  value() {
    const get = (id) => document.getElementById(id).value.trim();
    const optional = (id) => get(id) || undefined;
    const selection = this.assets.selection();
    const brand = {
      colors: $$(".color-row input[type=text]", this.colors)
        .map((i) => i.value.trim())
        .filter(Boolean),
      tone: optional("brief-tone"),
      logo_asset_id: selection.logo || undefined,
      font_asset_id: selection.font || undefined,
    };
    return {
      campaign_id: get("brief-campaign"),
      prompt: get("brief-prompt"),
      key_messages: get("brief-messages")
        .split("\n")
        .map((line) => line.trim())
        .filter(Boolean),
      product: optional("brief-product"),
      call_to_action: optional("brief-cta"),
      platform: get("brief-platform"),
      duration_s: Number(get("brief-duration")),
      variations: Number(get("brief-variations")),
      quality: $("input[name=quality]:checked", this.form).value,
      style: optional("brief-style"), // Auto: left out, the gateway chooses
      assets: selection.assets,
      brand,
    };
  }

  changed() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.quote(), ESTIMATE_DELAY_MS);
  }

  async quote() {
    const sequence = ++this.sequence;
    if (!this.api.session.signedIn) return;
    if (!this.form.checkValidity()) {
      this.estimate.dataset.state = "incomplete";
      this.estimateBody.replaceChildren(h("p", {}, "Complete the brief to see its estimate."));
      return;
    }
    this.estimate.dataset.state = "loading";
    const brief = this.value();
    try {
      const quote = await this.api.post(`${API}/estimate`, brief);
      // Local rendering is free; show what real models would cost beside it.
      const paid =
        quote.backend === "local"
          ? await this.api.post(`${API}/estimate?backend=replicate`, brief)
          : null;
      if (sequence !== this.sequence) return; // the brief changed meanwhile
      this.showQuote(quote, paid);
    } catch (error) {
      if (sequence !== this.sequence) return;
      this.estimate.dataset.state = "error";
      this.estimateBody.replaceChildren(
        h(
          "p",
          { class: "error" },
          `No estimate: ${describeError(error)}. You can still submit the brief.`,
        ),
        h("button", { type: "button", onclick: () => this.quote() }, "Try the estimate again"),
      );
    }
  }

  showQuote(quote, paid) {
    const engine = quote.backend === "local" ? "local engine" : quote.backend;
    const lines = [
      h(
        "p",
        { class: "estimate-total" },
        "Estimated cost: ",
        h("strong", { id: "estimate-total" }, money(quote.estimated_cost)),
        ` (${engine}, ${quote.scene_count} scenes × ${quote.variations} variation${quote.variations > 1 ? "s" : ""})`,
      ),
    ];
    if (paid) {
      lines.push(
        h(
          "p",
          {},
          "On real models (Replicate) it would be ",
          h("strong", { id: "estimate-paid" }, money(paid.estimated_cost)),
          ".",
        ),
      );
    }
    const items = (paid || quote).line_items;
    if (items.length) {
      lines.push(
        h(
          "details",
          {},
          h("summary", {}, "Line items"),
          h(
            "table",
            {},
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["Role", "Model", "Units", "Amount"].map((t) => h("th", { scope: "col" }, t)),
              ),
            ),
            h(
              "tbody",
              {},
              items.map((item) =>
                h(
                  "tr",
                  {},
                  h("td", {}, item.role),
                  h("td", {}, item.model),
                  h("td", {}, `${item.units} ${item.unit}`),
                  h("td", {}, money(item.amount_usd)),
                ),
              ),
            ),
          ),
        ),
      );
    }
    if (quote.budget && quote.budget.state !== "ok") {
      lines.push(h("p", { class: "error" }, `Daily budget: ${quote.budget.state}.`));
    }
    this.estimate.dataset.state = "ready";
    this.estimateBody.replaceChildren(...lines);
  }

  clearFieldErrors() {
    for (const el of $$("[aria-invalid=true]", this.form)) el.removeAttribute("aria-invalid");
    for (const el of $$(".field-error", this.form)) el.remove();
  }

  showFieldErrors(details) {
    let first = null;
    for (const detail of details || []) {
      const field = String(detail.field || "");
      const colour = field.match(/^brand\.colors\.(\d+)/);
      const id = colour
        ? `brand-color-${Number(colour[1]) + 1}-hex`
        : FIELD_INPUTS[field] || FIELD_INPUTS[field.split(".")[0]];
      const input = id && document.getElementById(id);
      if (!input) continue;
      const errorId = `${input.id}-error`;
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", errorId);
      document.getElementById(errorId)?.remove();
      input.insertAdjacentElement(
        "afterend",
        h("p", { class: "error field-error", id: errorId }, detail.message),
      );
      first = first || input;
    }
    first?.focus();
  }

  async send() {
    showError(this.error, "");
    this.clearFieldErrors();
    this.submit.disabled = true;
    try {
      const answer = await this.api.request("POST", `${API}/jobs`, { body: this.value() });
      this.onSubmitted(answer.body, answer.headers.get("ETag"));
    } catch (error) {
      showError(this.error, describeError(error));
      if (error.status === 422) this.showFieldErrors(error.details);
    } finally {
      this.submit.disabled = false;
    }
  }
}
