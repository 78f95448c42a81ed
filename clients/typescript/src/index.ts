// A typed client of the Reelsmith gateway: openapi-fetch over the types openapi-typescript
// generated from the gateway's OpenAPI document (src/schema.d.ts). Paths, parameters,
// bodies and answers are checked by the compiler; nothing is generated at run time.
import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };
export type Schemas = components["schemas"];
export type Job = Schemas["Job"];
export type JobStatus = Schemas["JobStatus"];
export type ApiError = Schemas["Error"];
export type ReelsmithClient = Client<paths>;

/** A bearer token, or a function that returns the current one (to refresh it). */
export type TokenSource = string | (() => string | Promise<string>);

export interface ReelsmithOptions {
  /** The gateway's origin, e.g. `http://127.0.0.1:8080` (paths start with `/api/v2`). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>` on every request. */
  token: TokenSource;
  /** Another fetch (tests, proxies); defaults to the global one. */
  fetch?: (input: Request) => Promise<Response>;
}

/** Middleware that sets `Authorization: Bearer <token>` on every request. */
export function bearerAuth(token: TokenSource): Middleware {
  return {
    async onRequest({ request }) {
      const value = typeof token === "function" ? await token() : token;
      request.headers.set("Authorization", `Bearer ${value}`);
      return request;
    },
  };
}

/**
 * A client of one gateway:
 *
 *     const api = createReelsmithClient({ baseUrl: "http://127.0.0.1:8080", token });
 *     const { data, error } = await api.GET("/api/v2/jobs/{job_id}", {
 *       params: { path: { job_id } },
 *     });
 */
export function createReelsmithClient(options: ReelsmithOptions): ReelsmithClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  client.use(bearerAuth(options.token));
  return client;
}
