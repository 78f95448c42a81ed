// The gateway's HTTP API with the session's bearer token; every failure is an ApiError
// carrying the gateway's `{"error": {"code", "message", "details"}}`.

export const API = "/api/v2";

export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const NETWORK_MESSAGE = "The gateway could not be reached; check that it is running and retry.";

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function errorFrom(status, data, fallback) {
  const error = (data && data.error) || {};
  return new ApiError(
    status,
    error.code || `http_${status}`,
    error.message || fallback || `the gateway answered ${status}`,
    error.details ?? null,
  );
}

export class Api {
  /** `session` gives `token` and is told (`unauthorized`) when the gateway refuses it. */
  constructor(session) {
    this.session = session;
  }

  authHeaders() {
    const token = this.session.token;
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  async request(method, path, { body, headers = {}, signal, auth = true } = {}) {
    const all = { Accept: "application/json", ...(auth ? this.authHeaders() : {}), ...headers };
    let payload;
    if (body !== undefined) {
      all["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: all,
        body: payload,
        signal,
        cache: "no-store",
      });
    } catch (error) {
      if (error.name === "AbortError") throw error;
      throw new ApiError(0, "network", NETWORK_MESSAGE);
    }
    if (response.status === 304) return { status: 304, body: null, headers: response.headers };
    const text = await response.text();
    const data = text ? parseJson(text) : null;
    if (!response.ok) {
      const error = errorFrom(response.status, data, response.statusText);
      if (response.status === 401 && auth) this.session.unauthorized(error);
      throw error;
    }
    return { status: response.status, body: data, headers: response.headers };
  }

  async get(path, options) {
    return (await this.request("GET", path, options)).body;
  }

  async post(path, body, options = {}) {
    return (await this.request("POST", path, { ...options, body })).body;
  }

  async patch(path, body, options = {}) {
    return (await this.request("PATCH", path, { ...options, body })).body;
  }

  /**
   * Upload a file as multipart/form-data. XHR rather than fetch: only XHR reports
   * upload progress. Resolves with the asset resource, rejects with an ApiError.
   */
  upload(file, kind, onProgress = () => {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${API}/upload-asset`);
      for (const [name, value] of Object.entries(this.authHeaders())) {
        xhr.setRequestHeader(name, value);
      }
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      xhr.addEventListener("load", () => {
        const data = parseJson(xhr.responseText);
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(data);
          return;
        }
        const error = errorFrom(xhr.status, data, xhr.statusText);
        if (xhr.status === 401) this.session.unauthorized(error);
        reject(error);
      });
      xhr.addEventListener("error", () => reject(new ApiError(0, "network", NETWORK_MESSAGE)));
      const form = new FormData();
      if (kind) form.append("kind", kind);
      form.append("file", file, file.name);
      xhr.send(form);
    });
  }
}
