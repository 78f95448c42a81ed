// Submit a brief, follow the job until its storyboard is ready, approve it, render it and
// follow it to `completed`, printing each status change and the videos' URLs.
//
//   REELSMITH_URL=http://127.0.0.1:8080 REELSMITH_TOKEN=... npm run example
//
// Following is polling `GET /api/v2/jobs/{id}` with the ETag (a 304 when nothing changed)
// at the interval the gateway asks for (`poll_after_ms`).
import { setTimeout as sleep } from "node:timers/promises";

import { createReelsmithClient, type Job, type JobStatus } from "../src/index.js";

const baseUrl = process.env.REELSMITH_URL ?? "http://127.0.0.1:8080";
const token = process.env.REELSMITH_TOKEN;
if (!token) throw new Error("set REELSMITH_TOKEN (`reelsmith token`, or `make run` prints one)");
const api = createReelsmithClient({ baseUrl, token });
const TIMEOUT_MS = Number(process.env.REELSMITH_TIMEOUT_MS ?? 600_000);

async function follow(job: Job, until: JobStatus[]): Promise<Job> {
  const deadline = Date.now() + TIMEOUT_MS;
  let etag: string | undefined;
  while (!until.includes(job.status)) {
    if (["failed", "canceled"].includes(job.status)) {
      throw new Error(`job ${job.id} is ${job.status}: ${job.error_message ?? ""}`);
    }
    if (Date.now() > deadline) throw new Error(`job ${job.id} is still ${job.status}`);
    await sleep(job.poll_after_ms);
    const { data, error, response } = await api.GET("/api/v2/jobs/{job_id}", {
      params: { path: { job_id: job.id }, header: etag ? { "If-None-Match": etag } : {} },
    });
    if (response.status === 304) continue;
    if (!data) throw new Error(`GET job: ${response.status} ${JSON.stringify(error)}`);
    etag = response.headers.get("ETag") ?? undefined;
    if (data.status !== job.status) console.log(`${data.id}: ${data.status}`);
    job = data;
  }
  return job;
}

async function main(): Promise<void> {
  const created = await api.POST("/api/v2/jobs", {
    params: { header: { "Idempotency-Key": crypto.randomUUID() } },
    body: {
      campaign_id: "spring-launch",
      platform: "tiktok",
      duration_s: 15,
      prompt: "Introducing Glow Serum. Brightens skin in 7 days. Vegan and cruelty free.",
      brand: { colors: ["#ff3366", "#1a1a2e"], tone: "playful" },
    },
  });
  if (!created.data) throw new Error(`create: ${JSON.stringify(created.error)}`);
  console.log(`${created.data.id}: ${created.data.status}`);

  const ready = await follow(created.data, ["storyboard_ready"]);
  console.log(`${ready.id}: ${ready.storyboard?.scenes.length ?? 0} scenes to review`);

  const approved = await api.POST("/api/v2/jobs/{job_id}/approve", {
    params: { path: { job_id: ready.id } },
  });
  if (!approved.data) throw new Error(`approve: ${JSON.stringify(approved.error)}`);

  const rendering = await api.POST("/api/v2/jobs/{job_id}/render", {
    params: { path: { job_id: ready.id } },
  });
  if (!rendering.data) throw new Error(`render: ${JSON.stringify(rendering.error)}`);
  console.log(`${rendering.data.id}: ${rendering.data.status}`);

  const done = await follow(rendering.data, ["completed"]);
  for (const output of done.outputs) {
    console.log(`variation ${output.variation}: ${new URL(output.url, baseUrl)}`);
  }
}

await main();
