-- v1 schema: one row per generation job.
CREATE TABLE IF NOT EXISTS generated_videos (
    id           TEXT PRIMARY KEY,
    campaign_id  TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'queued',
    prompt       TEXT NOT NULL,
    request_json TEXT NOT NULL DEFAULT '{}',
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
