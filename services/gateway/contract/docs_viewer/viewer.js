// A small OpenAPI 3.1 viewer: renders /openapi.json (operations by tag, parameters,
// bodies, responses, schemas) and sends "try it" requests to this origin. No framework,
// no build step, nothing loaded from elsewhere, so the docs work offline.

const TOKEN_KEY = "reelsmith.docs.token";
const METHODS = ["get", "post", "put", "patch", "delete"];

let doc = null;

// ------------------------------------------------------------------ DOM helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Descriptions use a little Markdown: `code`, **bold**, paragraphs, fenced code.
function prose(text) {
  const box = el("div", { class: "prose" });
  if (!text) return box;
  const parts = text.split(/```[a-z]*\n?/);
  parts.forEach((part, index) => {
    if (index % 2 === 1) {
      box.append(el("pre", {}, el("code", {}, part.replace(/\n$/, ""))));
      return;
    }
    for (const para of part.split(/\n{2,}/)) {
      if (!para.trim()) continue;
      const heading = para.match(/^(#{1,4})\s+(.*)$/);
      const p = heading ? el("h4") : el("p");
      inline(p, heading ? heading[2] : para);
      box.append(p);
    }
  });
  return box;
}

function inline(parent, text) {
  for (const token of text.split(/(`[^`]+`|\*\*[^*]+\*\*)/)) {
    if (token.startsWith("`") && token.endsWith("`") && token.length > 1) {
      parent.append(el("code", {}, token.slice(1, -1)));
    } else if (token.startsWith("**") && token.endsWith("**") && token.length > 3) {
      parent.append(el("strong", {}, token.slice(2, -2)));
    } else if (token) {
      parent.append(token);
    }
  }
}

const slug = (text) => text.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");

// ------------------------------------------------------------------ schemas

function resolve(schema) {
  if (schema && schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return [name, doc.components.schemas[name] || {}];
  }
  return [null, schema || {}];
}

function typeLabel(schema) {
  if (!schema || Object.keys(schema).length === 0) return "any";
  if (schema.$ref) return schema.$ref.split("/").pop();
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const options = schema.anyOf || schema.oneOf;
  if (options) {
    const named = options.filter((o) => o.type !== "null").map(typeLabel);
    const nullable = options.some((o) => o.type === "null");
    return named.join(" | ") + (nullable ? " | null" : "");
  }
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.type === "array") return `array of ${typeLabel(schema.items)}`;
  let label = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || "object";
  if (schema.format) label += ` (${schema.format})`;
  return label;
}

function constraints(schema) {
  const notes = [];
  const pairs = [
    ["minimum", "≥"], ["exclusiveMinimum", ">"], ["maximum", "≤"], ["exclusiveMaximum", "<"],
    ["minLength", "min length"], ["maxLength", "max length"],
    ["minItems", "min items"], ["maxItems", "max items"], ["pattern", "pattern"],
  ];
  for (const [key, label] of pairs) {
    if (schema[key] !== undefined) notes.push(`${label} ${schema[key]}`);
  }
  if (schema.default !== undefined) notes.push(`default ${JSON.stringify(schema.default)}`);
  return notes.join(", ");
}

// A schema as a table of fields; referenced schemas open on demand (no infinite trees).
function schemaView(schema, depth = 0) {
  const [name, target] = resolve(schema);
  if (name && depth > 0) return refView(name);
  const options = target.anyOf || target.oneOf;
  if (options && !target.properties) {
    const rest = options.filter((o) => o.type !== "null");
    if (rest.length === 1) return schemaView(rest[0], depth + 1);
    return el("ul", { class: "options" }, rest.map((o) => el("li", {}, schemaView(o, depth + 1))));
  }
  if (target.type === "array") {
    return el("div", {}, el("span", { class: "type" }, "array of "), schemaView(target.items || {}, depth + 1));
  }
  if (!target.properties) {
    const note = constraints(target);
    return el("span", {}, el("span", { class: "type" }, typeLabel(target)), note ? el("span", { class: "muted" }, ` (${note})`) : null);
  }
  const required = new Set(target.required || []);
  const rows = Object.entries(target.properties).map(([field, prop]) => {
    const [, inner] = resolve(prop);
    const nested = prop.$ref || inner.properties || inner.type === "array" || (prop.anyOf || []).some((o) => o.$ref);
    return el(
      "tr", {},
      el("td", {}, el("code", {}, field), required.has(field) ? el("span", { class: "req", title: "required" }, " *") : null),
      el("td", {}, el("span", { class: "type" }, typeLabel(prop)), constraints(prop) ? el("div", { class: "muted" }, constraints(prop)) : null),
      el("td", {}, prose(prop.description || inner.description || ""), nested ? nestedView(prop, depth) : null),
    );
  });
  return el(
    "table", { class: "fields" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "field"), el("th", { scope: "col" }, "type"), el("th", { scope: "col" }, "meaning"))),
    el("tbody", {}, rows),
  );
}

function nestedView(prop, depth) {
  const refs = [prop, ...(prop.anyOf || []), prop.items || {}].filter((s) => s.$ref);
  if (refs.length) return el("div", {}, refs.map((r) => refView(r.$ref.split("/").pop())));
  return schemaView(prop, depth + 1);
}

function refView(name) {
  const details = el("details", { class: "ref" }, el("summary", {}, name));
  details.addEventListener("toggle", () => {
    if (details.open && details.children.length === 1) {
      details.append(schemaView(doc.components.schemas[name] || {}, 0));
    }
  }, { once: false });
  return details;
}

// ------------------------------------------------------------------ operations

function operations() {
  const found = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item)) {
      if (METHODS.includes(method)) found.push({ path, method, op: item[method] });
    }
  }
  return found;
}

function byTag(list) {
  const groups = new Map((doc.tags || []).map((t) => [t.name, []]));
  for (const entry of list) {
    const tag = (entry.op.tags || ["other"])[0];
    if (!groups.has(tag)) groups.set(tag, []);
    groups.get(tag).push(entry);
  }
  return groups;
}

function security(op) {
  const schemes = (op.security || doc.security || []).flatMap((s) => Object.keys(s));
  return schemes.length ? `token (${schemes.join(" or ")})` : "public";
}

function operationView({ path, method, op }) {
  const id = `op-${op.operationId || slug(method + path)}`;
  const body = el("div", { class: "op-body" });
  const details = el(
    "details", { class: `op ${method}`, id },
    el("summary", {},
      el("span", { class: `method ${method}` }, method.toUpperCase()),
      el("code", { class: "path" }, path),
      el("span", { class: "summary" }, op.summary || ""),
      el("span", { class: "lock muted" }, security(op)),
    ),
    body,
  );
  details.addEventListener("toggle", () => {
    if (details.open && !body.childElementCount) fillOperation(body, path, method, op);
  });
  return details;
}

function fillOperation(body, path, method, op) {
  body.append(prose(op.description || ""));
  const params = op.parameters || [];
  if (params.length) {
    body.append(el("h4", {}, "Parameters"), el(
      "table", { class: "fields" },
      el("thead", {}, el("tr", {}, ["name", "in", "type", "meaning"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, params.map((p) => el(
        "tr", {},
        el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "req", title: "required" }, " *") : null),
        el("td", {}, p.in),
        el("td", {}, el("span", { class: "type" }, typeLabel(p.schema)), constraints(p.schema || {}) ? el("div", { class: "muted" }, constraints(p.schema)) : null),
        el("td", {}, prose(p.description || "")),
      ))),
    ));
  }
  if (op.requestBody) {
    body.append(el("h4", {}, "Request body"));
    for (const [media, content] of Object.entries(op.requestBody.content || {})) {
      body.append(el("p", {}, el("code", {}, media), op.requestBody.required ? " (required)" : ""));
      if (content.schema) body.append(schemaView(content.schema));
      if (content.example !== undefined) {
        body.append(el("p", { class: "muted" }, "Example"), el("pre", {}, el("code", {}, JSON.stringify(content.example, null, 2))));
      }
    }
  }
  body.append(el("h4", {}, "Responses"));
  for (const [status, response] of Object.entries(op.responses || {})) {
    const media = Object.entries(response.content || {});
    const title = el("p", {}, el("strong", { class: `status s${status[0]}` }, status), " ");
    inline(title, response.description || "");
    const row = el("div", { class: "response" }, title);
    const headers = Object.entries(response.headers || {});
    if (headers.length) {
      const list = el("p", { class: "muted" }, "Headers: ");
      headers.forEach(([name, header], i) => {
        list.append(i ? ", " : "", el("code", {}, name), " (");
        inline(list, header.description || "");
        list.append(")");
      });
      row.append(list);
    }
    for (const [type, content] of media) {
      row.append(el("p", {}, el("code", {}, type)));
      if (!content.schema || !type.includes("json")) continue;
      // The shared error shape is the same everywhere: a link, not a table per status.
      const isError = content.schema.$ref === "#/components/schemas/Error";
      row.append(isError ? refView("Error") : schemaView(content.schema));
    }
    body.append(row);
  }
  body.append(tryIt(path, method, op));
}

// ------------------------------------------------------------------ try it

function tryIt(path, method, op) {
  const form = el("form", { class: "try" });
  const fields = [];
  form.append(el("h4", {}, "Try it"));
  for (const p of op.parameters || []) {
    const inputId = `${op.operationId}-${p.in}-${p.name}`;
    const [, schema] = resolve(p.schema);
    let input;
    if (schema.enum) {
      input = el("select", { id: inputId }, el("option", { value: "" }, "(none)"), schema.enum.map((v) => el("option", { value: v }, v)));
    } else {
      input = el("input", { id: inputId, type: "text", required: p.required, placeholder: typeLabel(p.schema) });
    }
    fields.push({ param: p, input });
    form.append(el("div", { class: "field" }, el("label", { for: inputId }, `${p.name} (${p.in})`), input));
  }
  let bodyInput = null;
  let fileInput = null;
  const content = op.requestBody ? op.requestBody.content || {} : {};
  if (content["application/json"]) {
    const example = content["application/json"].example;
    bodyInput = el("textarea", { id: `${op.operationId}-body`, rows: 8, spellcheck: "false" });
    bodyInput.value = example === undefined ? "{}" : JSON.stringify(example, null, 2);
    form.append(el("div", { class: "field" }, el("label", { for: bodyInput.id }, "JSON body"), bodyInput));
  } else if (content["multipart/form-data"]) {
    fileInput = el("input", { id: `${op.operationId}-file`, type: "file" });
    form.append(el("div", { class: "field" }, el("label", { for: fileInput.id }, "file"), fileInput));
  }
  const output = el("div", { class: "output", role: "status", "aria-live": "polite" });
  form.append(el("button", { type: "submit" }, `Send ${method.toUpperCase()}`), output);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await send(path, method, fields, bodyInput, fileInput, output);
  });
  return form;
}

async function send(path, method, fields, bodyInput, fileInput, output) {
  let url = path;
  const query = new URLSearchParams();
  const headers = {};
  for (const { param, input } of fields) {
    const value = input.value.trim();
    if (!value) continue;
    if (param.in === "path") url = url.replace(`{${param.name}}`, encodeURIComponent(value));
    else if (param.in === "query") query.append(param.name, value);
    else if (param.in === "header") headers[param.name] = value;
  }
  if (/\{[^}]+\}/.test(url)) {
    output.replaceChildren(el("p", { class: "error" }, "Fill in every path parameter."));
    return;
  }
  if (query.toString()) url += `?${query}`;
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (bodyInput) {
    headers["Content-Type"] = "application/json";
    body = bodyInput.value;
  } else if (fileInput && fileInput.files.length) {
    body = new FormData();
    body.append("file", fileInput.files[0]);
  }
  output.replaceChildren(el("p", { class: "muted" }, `${method.toUpperCase()} ${url} …`));
  const started = performance.now();
  try {
    const response = await fetch(url, { method: method.toUpperCase(), headers, body });
    const elapsed = Math.round(performance.now() - started);
    const type = response.headers.get("Content-Type") || "";
    const shown = [el("p", {}, el("strong", { class: `status s${String(response.status)[0]}` }, response.status), ` ${response.statusText} · ${elapsed} ms · ${type}`)];
    if (type.includes("json")) {
      shown.push(el("pre", {}, el("code", {}, JSON.stringify(await response.json(), null, 2))));
    } else if (type.startsWith("image/") || type.startsWith("video/")) {
      const src = URL.createObjectURL(await response.blob());
      shown.push(type.startsWith("image/") ? el("img", { src, alt: "response image" }) : el("video", { src, controls: true }));
    } else if (type.startsWith("text/event-stream")) {
      shown.push(el("p", { class: "muted" }, "An event stream: open it with EventSource or curl -N."));
      response.body?.cancel();
    } else {
      const text = await response.text();
      shown.push(el("pre", {}, el("code", {}, text.slice(0, 20000))));
    }
    output.replaceChildren(...shown);
  } catch (error) {
    output.replaceChildren(el("p", { class: "error" }, `Request failed: ${error}`));
  }
}

// ------------------------------------------------------------------ page

function renderNav(groups) {
  const nav = document.getElementById("nav");
  nav.replaceChildren(
    ...[...groups].filter(([, list]) => list.length).map(([tag, list]) => el(
      "div", { class: "nav-group" },
      el("h2", {}, el("a", { href: `#tag-${slug(tag)}` }, tag)),
      el("ul", {}, list.map(({ path, method, op }) => el("li", {},
        el("a", { href: `#op-${op.operationId || slug(method + path)}`, "data-op": `${method} ${path}` },
          el("span", { class: `method ${method}` }, method.toUpperCase()), " ", path)))),
    )),
    el("div", { class: "nav-group" }, el("h2", {}, el("a", { href: "#schemas" }, "schemas"))),
  );
}

function render() {
  document.getElementById("title").textContent = doc.info.title;
  document.title = doc.info.title;
  document.getElementById("version").textContent = `version ${doc.info.version} · OpenAPI ${doc.openapi}`;
  document.getElementById("intro").replaceChildren(prose(doc.info.description || ""));
  const groups = byTag(operations());
  renderNav(groups);
  const tagInfo = new Map((doc.tags || []).map((t) => [t.name, t]));
  const container = document.getElementById("operations");
  container.replaceChildren(...[...groups].filter(([, list]) => list.length).map(([tag, list]) => el(
    "section", { class: "tag", id: `tag-${slug(tag)}`, "aria-labelledby": `tag-title-${slug(tag)}` },
    el("h2", { id: `tag-title-${slug(tag)}` }, tag),
    prose(tagInfo.get(tag)?.description || ""),
    list.map(operationView),
  )));
  const schemas = Object.keys(doc.components?.schemas || {}).sort();
  document.getElementById("schema-list").replaceChildren(...schemas.map((name) => {
    const box = refView(name);
    box.id = `schema-${name}`;
    return box;
  }));
  document.getElementById("schemas").hidden = false;
  document.getElementById("loading").remove();
  openFromHash();
}

function openFromHash() {
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target && target.tagName === "DETAILS") {
    target.open = true;
    target.scrollIntoView();
  }
}

function setupAuth() {
  const form = document.getElementById("auth");
  const input = document.getElementById("token");
  const state = document.getElementById("token-state");
  const show = () => {
    state.textContent = sessionStorage.getItem(TOKEN_KEY) ? "token set for this tab" : "no token";
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim().replace(/^Bearer\s+/i, "");
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    input.value = "";
    show();
  });
  show();
}

async function main() {
  setupAuth();
  window.addEventListener("hashchange", openFromHash);
  try {
    const response = await fetch("/openapi.json");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    doc = await response.json();
    render();
    document.body.dataset.ready = "true";
  } catch (error) {
    document.getElementById("loading").textContent = `Could not load /openapi.json: ${error.message}`;
  }
}

main();
