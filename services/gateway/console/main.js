// Wiring: sign-in (paste a token, or the development login when the gateway offers
// it), then the workspace: recent jobs, brief and uploads, the open job.

import { API, Api } from "./api.js";
import { AssetsPanel } from "./assets.js";
import { BriefForm } from "./brief.js";
import { $, announce, describeError, showError } from "./dom.js";
import { JobView } from "./job.js";
import { JobsList } from "./jobs.js";
import { Session } from "./session.js";

const session = new Session();
const api = new Api(session);

const signInSection = $("#sign-in");
const workspace = $("#workspace");
const signInError = $("#sign-in-error");
const who = $("#session-status");
const signOut = $("#sign-out");

const jobView = new JobView($("#job-section"), {
  api,
  session,
  onChanged: () => jobs.load().catch(() => {}),
});
const jobs = new JobsList($("#jobs-section"), { api, onOpen: (job) => openJob(job.id) });
const assets = new AssetsPanel($("#assets-section"), {
  api,
  session,
  onChange: () => brief.changed(),
});
const brief = new BriefForm($("#brief-form"), {
  api,
  assets,
  onSubmitted: (job, etag) => {
    showJob(job, etag);
    announce("Brief submitted");
  },
});

function showJob(job, etag = null) {
  history.replaceState(null, "", `#job=${job.id}`);
  jobView.open(job, etag);
  const heading = $("#job-title");
  heading.focus({ preventScroll: true });
  heading.scrollIntoView({ block: "start" });
}

async function openJob(jobId) {
  try {
    const answer = await api.request("GET", `${API}/jobs/${encodeURIComponent(jobId)}`);
    showJob(answer.body, answer.headers.get("ETag"));
  } catch (error) {
    showError($("#jobs-error"), `Job ${jobId} could not be opened: ${describeError(error)}`);
  }
}

async function enterWorkspace() {
  signInSection.hidden = true;
  workspace.hidden = false;
  signOut.hidden = false;
  const expires = session.expiresAt
    ? ` · token valid until ${session.expiresAt.toLocaleString()}`
    : "";
  who.textContent = `Signed in as ${session.clientId}${expires}`;
  assets.reset();
  await Promise.allSettled([jobs.load(), assets.load()]);
  brief.changed();
  const wanted = location.hash.match(/^#job=([A-Za-z0-9]+)$/);
  if (wanted) await openJob(wanted[1]);
}

function leaveWorkspace(reason, { focus = true } = {}) {
  jobView.close();
  assets.reset();
  workspace.hidden = true;
  signOut.hidden = true;
  signInSection.hidden = false;
  who.textContent = "Not signed in";
  showError(signInError, reason || "");
  // Not on first load: the page starts at the top (skip link, then the form).
  if (focus) $("#token-input").focus();
}

/** Try the token on the gateway before entering: a refused one stays on this page. */
async function signInWith(token) {
  showError(signInError, "");
  try {
    session.signIn(token);
  } catch (error) {
    showError(signInError, `That is not a usable token: ${error.message}.`);
    return;
  }
  try {
    await api.get(`${API}/jobs?limit=1`);
  } catch (error) {
    if (session.signedIn) session.signOut(`The gateway refused the token: ${describeError(error)}`);
    return;
  }
  await enterWorkspace();
  announce(`Signed in as ${session.clientId}`);
}

session.addEventListener("change", (event) => {
  if (!session.signedIn) leaveWorkspace(event.detail?.reason);
});

$("#token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signInWith($("#token-input").value);
});

$("#dev-login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  showError(signInError, "");
  try {
    const issued = await api.post(
      `${API}/dev/token`,
      { client_id: $("#dev-client-id").value.trim() },
      { auth: false },
    );
    await signInWith(issued.token);
  } catch (error) {
    showError(signInError, `Development login failed: ${describeError(error)}`);
  }
});

signOut.addEventListener("click", () => session.signOut("Signed out."));

async function start() {
  const config = await fetch("/console/config.json", { cache: "no-store" })
    .then((r) => (r.ok ? r.json() : { dev_login: false }))
    .catch(() => ({ dev_login: false }));
  $("#dev-login-form").hidden = !config.dev_login;
  if (session.signedIn) {
    // A token kept from earlier in this tab: check it is still accepted.
    try {
      await api.get(`${API}/jobs?limit=1`);
      await enterWorkspace();
    } catch (error) {
      // A refused token has signed out already (with the reason); this is anything else.
      if (session.signedIn)
        leaveWorkspace(`The token could not be checked: ${describeError(error)}`);
    }
  } else {
    leaveWorkspace("", { focus: false });
  }
  document.body.dataset.ready = "true";
}

start();
