// A client of the Reelsmith API on another origin: bearer token from an identity
// provider, JSON calls with fetch (CORS), the job followed live over its SSE stream read
// with fetch (EventSource cannot send Authorization), the video played with a media token.

const api = new URL(location.href).searchParams.get("api");
const $ = (id) => document.getElementById(id);
const BRIEF = {
  campaign_id: "partner",
  prompt: "Introducing Glow Serum. Brightens skin in 7 days. Vegan.",
  platform: "tiktok",
  duration_s: 10,
};
let token = null;
let job = null;

async function call(method, path, body, headers = {}) {
  const init = { method, headers: { Authorization: `Bearer ${token}`, ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(api + path, init);
  const answer = await response.json();
  if (!response.ok) throw new Error(`${response.status} ${answer.error.code}: ${answer.error.message}`);
  return { answer, response };
}

function guarded(action) {
  return async (event) => {
    event.preventDefault();
    $("error").textContent = "";
    try {
      await action();
    } catch (error) {
      $("error").textContent = `${error.name}: ${error.message}`;
    }
  };
}

function* sseEvents(buffer) {
  // Yields the data of each complete `job` event; the caller keeps the remainder.
  let end;
  while ((end = buffer.text.indexOf("\n\n")) >= 0) {
    const block = buffer.text.slice(0, end);
    buffer.text = buffer.text.slice(end + 2);
    const lines = block.split("\n");
    if (!lines.includes("event: job")) continue; // keep-alive comments
    yield lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
  }
}

function show(next, streamed = false) {
  job = next;
  $("status").textContent = job.status;
  if (streamed) $("events").textContent = String(Number($("events").textContent) + 1);
  const seen = $("history").textContent.split(" ").filter(Boolean);
  if (seen.at(-1) !== job.status) $("history").textContent = [...seen, job.status].join(" ");
  $("approve").disabled = job.status !== "storyboard_ready";
  $("render").disabled = job.status !== "approved";
  if (job.status === "completed") play().catch((error) => ($("error").textContent = String(error)));
}

async function follow(id) {
  const response = await fetch(`${api}/api/v2/jobs/${id}/events`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!response.ok) throw new Error(`events: HTTP ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const buffer = { text: "" };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer.text += value;
    for (const data of sseEvents(buffer)) show(JSON.parse(data), true);
  }
}

async function play() {
  // <video> sends no header: a media token in the URL, as the web console does.
  const { answer } = await call("POST", "/api/v2/media-token");
  const output = job.outputs.find((o) => o.kind === "render");
  const separator = output.url.includes("?") ? "&" : "?";
  $("video").src = `${api}${output.url}${separator}access_token=${encodeURIComponent(answer.token)}`;
}

$("sign-in").addEventListener(
  "submit",
  guarded(async () => {
    token = $("token").value.trim();
    const { answer } = await call("POST", "/api/v2/media-token");
    $("who").textContent = `${answer.client_id} (${answer.role})`;
    $("create").disabled = job !== null;
  }),
);

$("create").addEventListener(
  "click",
  guarded(async () => {
    $("create").disabled = true;
    const key = crypto.randomUUID();
    const { answer, response } = await call("POST", "/api/v2/jobs", BRIEF, { "Idempotency-Key": key });
    $("location").textContent = response.headers.get("Location"); // an exposed header
    show(answer);
    follow(answer.id).catch((error) => ($("error").textContent = `stream: ${error.message}`));
  }),
);

$("approve").addEventListener("click", guarded(() => call("POST", `/api/v2/jobs/${job.id}/approve`)));
$("render").addEventListener("click", guarded(() => call("POST", `/api/v2/jobs/${job.id}/render`)));
