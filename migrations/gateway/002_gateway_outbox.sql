-- Gateway bookkeeping: the transactional outbox, the processed-event ledger that
-- makes the projection idempotent, and the job's current attempt.
CREATE TABLE IF NOT EXISTS outbox (
    id           TEXT PRIMARY KEY,
    subject      TEXT NOT NULL,
    headers      TEXT NOT NULL,
    payload      BLOB NOT NULL,
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    published_at TEXT
);
CREATE INDEX IF NOT EXISTS idx_outbox_unpublished ON outbox(created_at) WHERE published_at IS NULL;

CREATE TABLE IF NOT EXISTS processed_events (
    consumer     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (consumer, event_id)
);

ALTER TABLE generated_videos ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS idx_generated_videos_client_created
    ON generated_videos(client_id, created_at);
