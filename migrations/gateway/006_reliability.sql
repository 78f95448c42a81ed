-- Reliability: which stage a failed job failed in, the request that started each running
-- stage (so a stuck one can be sent again), and remembered idempotent responses.
ALTER TABLE generated_videos ADD COLUMN failed_stage TEXT;

-- The latest request of each stage of a job: `storyboard`, `refine`, `render` or
-- `export:<export_id>`. The reaper republishes it with the next attempt; a retry restarts
-- the failed stage from it. `retries` counts the reaper's retries of this request.
CREATE TABLE IF NOT EXISTS stage_requests (
    job_id       TEXT NOT NULL,
    stage        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    data         TEXT NOT NULL,
    retries      INTEGER NOT NULL DEFAULT 0,
    requested_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    finished_at  TEXT,
    PRIMARY KEY (job_id, stage)
);

-- `Idempotency-Key` requests, per client: the request's fingerprint and, once it
-- succeeded, the response to replay. Rows expire after 24 h.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    client_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    fingerprint TEXT,
    state       TEXT NOT NULL DEFAULT 'in_progress',
    status      INTEGER,
    headers     TEXT,
    body        BLOB,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (client_id, key)
);
CREATE INDEX IF NOT EXISTS idx_idempotency_keys_expires ON idempotency_keys(expires_at);
