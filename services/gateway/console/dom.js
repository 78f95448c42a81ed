// Small DOM and formatting helpers shared by the console's modules.

/** Create an element: h("button", {type: "button", onclick: go}, "Go"). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value" || key === "checked" || key === "disabled") el[key] = value;
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function money(usd) {
  if (usd === null || usd === undefined) return "—";
  return `$${Number(usd).toFixed(2)}`;
}

export function seconds(value) {
  return `${Number(value).toFixed(1)} s`;
}

export function byteSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** Append `access_token` to a same-origin media URL (`<video>` cannot send headers). */
export function withToken(url, token) {
  if (!token) return url;
  return `${url}${url.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(token)}`;
}

/** Say something to screen-reader users through the page's polite live region. */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh text node is announced even when the message repeats.
  requestAnimationFrame(() => {
    region.textContent = message;
  });
}

/** Show `message` in an error element (role="alert"), or clear it. */
export function showError(el, message) {
  el.textContent = message || "";
  el.hidden = !message;
}

/** The message a user should read for an error thrown by the API client. */
export function describeError(error) {
  if (!error) return "";
  const details = Array.isArray(error.details)
    ? error.details
        .filter((d) => d && d.message)
        .map((d) => (d.field ? `${d.field}: ${d.message}` : d.message))
    : [];
  return details.length ? `${error.message} (${details.join("; ")})` : error.message;
}
