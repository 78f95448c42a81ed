// Who is signed in: the bearer token (kept for this browser tab only), what it says
// about itself, and the short-lived media token that goes into video and image URLs.

import { API } from "./api.js";

const STORAGE_KEY = "reelsmith.console.token";
// Renew the media token this long before it expires, so a URL built now stays valid
// for a while (a video seeks with new Range requests long after its src was set).
const MEDIA_RENEW_MS = 10 * 60 * 1000;

function decodeClaims(token) {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("a token has three dot-separated parts");
  const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const claims = JSON.parse(atob(padded));
  if (typeof claims !== "object" || claims === null) throw new Error("unreadable claims");
  return claims;
}

export class Session extends EventTarget {
  constructor(storage = window.sessionStorage) {
    super();
    this.storage = storage;
    this.token = null;
    this.claims = null;
    this.media = null;
    this.mediaPending = null;
    const saved = storage.getItem(STORAGE_KEY);
    if (saved) {
      try {
        this.adopt(saved);
      } catch {
        storage.removeItem(STORAGE_KEY);
      }
    }
  }

  get signedIn() {
    return this.token !== null;
  }

  get clientId() {
    return this.claims?.sub ?? "";
  }

  get expiresAt() {
    return this.claims?.exp ? new Date(this.claims.exp * 1000) : null;
  }

  /** Take a pasted token (shape checked here; the gateway verifies it). */
  adopt(token) {
    const trimmed = token.trim().replace(/^Bearer\s+/i, "");
    const claims = decodeClaims(trimmed);
    if (claims.exp && claims.exp * 1000 < Date.now()) throw new Error("this token has expired");
    this.token = trimmed;
    this.claims = claims;
    this.media = null;
    this.storage.setItem(STORAGE_KEY, trimmed);
  }

  signIn(token) {
    this.adopt(token);
    this.dispatchEvent(new Event("change"));
  }

  signOut(reason = "") {
    this.token = null;
    this.claims = null;
    this.media = null;
    this.storage.removeItem(STORAGE_KEY);
    this.dispatchEvent(new CustomEvent("change", { detail: { reason } }));
  }

  unauthorized(error) {
    if (this.signedIn) this.signOut(`The gateway refused the token: ${error.message}`);
  }

  /** A media token valid for a while yet, minted by the gateway when needed. */
  async mediaToken(api, { renew = false } = {}) {
    const fresh = this.media && this.media.expiresAt - Date.now() > MEDIA_RENEW_MS;
    if (fresh && !renew) return this.media.token;
    if (!this.mediaPending) {
      this.mediaPending = api
        .post(`${API}/media-token`, {})
        .then((issued) => {
          this.media = { token: issued.token, expiresAt: Date.now() + issued.expires_in_s * 1000 };
          return issued.token;
        })
        .finally(() => {
          this.mediaPending = null;
        });
    }
    return this.mediaPending;
  }
}
