// Following one job: server-sent events (`GET /jobs/{id}/events`) while it moves, falling
// back to adaptive polling (`poll_after_ms`, ETag/304) when the stream cannot be used.
// EventSource cannot send an Authorization header, so the stream is read with fetch.

import { API, ApiError } from "./api.js";

const FINAL = new Set(["completed", "failed", "canceled"]);
const SSE_RETRY_MS = 30_000; // after a failed stream, poll this long before trying again
const MIN_POLL_MS = 1000;
// A job paused for the budget asks for 15 s: nothing moves until a new day or an admin.
const MAX_POLL_MS = 15_000;
// The gateway reports a finished job as idle (10 s), but an export the user just asked
// for moves it again: poll at this pace until the export is there.
const EXPECTING_POLL_MS = 1000;

export const isFinal = (job) => FINAL.has(job.status);

function* sseEvents(buffer) {
  // Yields [event, data] for every complete block; the caller keeps the remainder.
  let start = 0;
  for (;;) {
    const end = buffer.text.indexOf("\n\n", start);
    if (end < 0) break;
    const block = buffer.text.slice(start, end);
    start = end + 2;
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue; // keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) yield [event, data.join("\n")];
  }
  buffer.text = buffer.text.slice(start);
}

export class JobWatcher {
  /** `onJob(job)` for every new state; `onTransport({mode, intervalMs})` when that changes. */
  constructor(api, { onJob, onTransport, onError }) {
    this.api = api;
    this.onJob = onJob;
    this.onTransport = onTransport;
    this.onError = onError;
    this.controller = null;
    this.wake = null;
  }

  watch(job, etag = null) {
    this.stop();
    this.job = job;
    this.etag = etag;
    this.expecting = null;
    this.controller = new AbortController();
    this.run(job.id, this.controller.signal);
  }

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
    this.poke();
  }

  /** Poll briskly until `done(job)` holds (or `timeoutMs` passes): for an export. */
  expect(done, timeoutMs = 5 * 60 * 1000) {
    this.expecting = { done, until: Date.now() + timeoutMs };
    this.poke();
  }

  /** A newer state learnt elsewhere (the answer to a PATCH or POST). */
  update(job) {
    this.job = job;
    this.poke();
  }

  poke() {
    if (this.wake) this.wake();
  }

  transport(mode, intervalMs = 0) {
    this.onTransport({ mode, intervalMs });
  }

  deliver(job) {
    this.job = job;
    if (this.expecting && (this.expecting.done(job) || Date.now() > this.expecting.until)) {
      this.expecting = null;
    }
    this.onJob(job);
  }

  sleep(ms, signal) {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const onAbort = () => done();
      signal.addEventListener("abort", onAbort, { once: true });
      this.wake = done;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        resolve();
      }
    });
  }

  async run(jobId, signal) {
    let sseAfter = 0;
    let failures = 0;
    while (!signal.aborted) {
      const moving = !isFinal(this.job);
      if (!moving && !this.expecting) {
        this.transport("idle");
        await this.sleep(24 * 3600 * 1000, signal); // until poked
        continue;
      }
      if (moving && Date.now() >= sseAfter) {
        try {
          this.transport("sse");
          await this.stream(jobId, signal);
          failures = 0;
          // The stream ends when the job is final, or early if the gateway restarts.
          if (isFinal(this.job)) continue;
          sseAfter = Date.now() + 2000;
        } catch (error) {
          if (signal.aborted) return;
          if (error instanceof ApiError && error.status === 404) {
            this.onError(error);
            return;
          }
          sseAfter = Date.now() + SSE_RETRY_MS;
        }
      }
      const interval = this.expecting
        ? EXPECTING_POLL_MS
        : Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, this.job.poll_after_ms || 3000));
      this.transport("polling", interval);
      try {
        await this.poll(jobId, signal);
        failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        failures += 1;
        this.onError(error);
        if (error instanceof ApiError && (error.status === 404 || error.status === 401)) return;
      }
      if (this.expecting || isFinal(this.job) || Date.now() < sseAfter) {
        await this.sleep(Math.min(MAX_POLL_MS, interval * 2 ** failures), signal);
      }
    }
  }

  async poll(jobId, signal) {
    const headers = this.etag ? { "If-None-Match": this.etag } : {};
    const answer = await this.api.request("GET", `${API}/jobs/${jobId}`, { headers, signal });
    if (answer.status === 304) return;
    this.etag = answer.headers.get("ETag");
    this.deliver(answer.body);
  }

  async stream(jobId, signal) {
    let response;
    try {
      response = await fetch(`${API}/jobs/${jobId}/events`, {
        headers: { ...this.api.authHeaders(), Accept: "text/event-stream" },
        cache: "no-store",
        signal,
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, "network", "the event stream could not be opened");
    }
    if (!response.ok || !response.body) {
      throw new ApiError(response.status, "stream_refused", "the event stream was refused");
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const buffer = { text: "" };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer.text += value.replace(/\r\n?/g, "\n");
      for (const [event, data] of sseEvents(buffer)) {
        if (event === "job") this.deliver(JSON.parse(data));
      }
    }
  }
}
