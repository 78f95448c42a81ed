-- Outgoing webhooks: each client's signing secret, and the deliveries queued in the same
-- transaction as the job state change they announce (so a restart loses none).
CREATE TABLE IF NOT EXISTS webhook_secrets (
    client_id    TEXT PRIMARY KEY,
    key          TEXT NOT NULL,
    -- Still signed with for a while after a rotation, so receivers can switch over.
    previous_key TEXT,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    rotated_at   TEXT
);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id              TEXT PRIMARY KEY,  -- the webhook-id header, the same on every attempt
    job_id          TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    url             TEXT NOT NULL,
    type            TEXT NOT NULL,
    payload         BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    delivered_at    TEXT,
    failed_at       TEXT
);
CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_due
    ON webhook_deliveries(next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_job ON webhook_deliveries(job_id, created_at);
