-- Roll the gateway's app.db back to the v1 schema (migrations/gateway/000_base.sql) from v2
-- (001_v2_video_generation.sql, 002_gateway_outbox.sql, 003_job_outputs.sql, 004_job_cost_items.sql,
-- 005_webhooks.sql, 006_reliability.sql, 007_checks.sql, 008_seed_index_names.sql,
-- 009_paused_jobs.sql, 010_scale_indexes.sql of migrations/gateway/, all applied).
--
-- Needs SQLite >= 3.35 (ALTER TABLE ... DROP COLUMN); the image's sqlite3 is 3.40. With the
-- gateway stopped, back up first, then run it with -bail so the first error stops it and the
-- open transaction is rolled back (nothing half-done):
--
--   sqlite3 app.db ".backup 'app.db.before-rollback'"
--   sqlite3 -bail app.db < deploy/rollback/001_v2_down.sql
--
-- Kept: every v1 column of generated_videos with its values, for every row (rows created by
-- v2 too; their status may be one v1 does not know, e.g. storyboard_ready).
-- Dropped: the v2 columns (storyboards, approval, costs, retries, outputs ...), the v2 indexes
-- (under 001's names and 008's) and trigger, the outbox, the processed-event ledger, the
-- webhook tables, the stage requests and idempotency keys, the preflight columns, the paused
-- jobs, 010's indexes. schema_migrations forgets 001-010 (it records bare file names, without the gateway/ folder),
-- so starting v2 again re-applies them and the v1 rows upgrade as they did the first time.
BEGIN IMMEDIATE;

-- Triggers and indexes first: SQLite refuses to drop a column they use. 008 renamed 001's
-- indexes; both names are dropped, so a database from before 008 rolls back the same way.
DROP TRIGGER IF EXISTS update_videos_timestamp;
DROP INDEX IF EXISTS idx_videos_status;
DROP INDEX IF EXISTS idx_videos_campaign;
DROP INDEX IF EXISTS idx_videos_client;
DROP INDEX IF EXISTS idx_videos_updated;
DROP INDEX IF EXISTS idx_videos_approved;
DROP INDEX IF EXISTS idx_generated_videos_status;
DROP INDEX IF EXISTS idx_generated_videos_campaign;
DROP INDEX IF EXISTS idx_generated_videos_client;
DROP INDEX IF EXISTS idx_generated_videos_updated;
DROP INDEX IF EXISTS idx_generated_videos_approved;
DROP INDEX IF EXISTS idx_generated_videos_client_created;
-- 010: the job list's filters (its other indexes go with their tables below).
DROP INDEX IF EXISTS idx_videos_created;
DROP INDEX IF EXISTS idx_videos_status_created;
DROP INDEX IF EXISTS idx_videos_campaign_created;
DROP INDEX IF EXISTS idx_videos_client_status_created;
DROP INDEX IF EXISTS idx_videos_client_campaign_created;

-- 009: the jobs paused for the budget (with its index).
DROP TABLE IF EXISTS paused_jobs;

-- 006: stage requests and idempotency keys (with their indexes).
DROP TABLE IF EXISTS stage_requests;
DROP TABLE IF EXISTS idempotency_keys;

-- 005: outgoing webhook secrets and deliveries (with their indexes).
DROP TABLE IF EXISTS webhook_deliveries;
DROP TABLE IF EXISTS webhook_secrets;

-- 002: the gateway's outbox and processed-event ledger (with their indexes).
DROP TABLE IF EXISTS outbox;
DROP TABLE IF EXISTS processed_events;

-- 007, 006, 004, 003, 002, 001: the columns they added, newest first.
ALTER TABLE generated_videos DROP COLUMN preflight_override;
ALTER TABLE generated_videos DROP COLUMN preflight;
ALTER TABLE generated_videos DROP COLUMN failed_stage;
ALTER TABLE generated_videos DROP COLUMN cost_items;
ALTER TABLE generated_videos DROP COLUMN outputs;
ALTER TABLE generated_videos DROP COLUMN attempt;
ALTER TABLE generated_videos DROP COLUMN updated_at;
ALTER TABLE generated_videos DROP COLUMN error_message;
ALTER TABLE generated_videos DROP COLUMN retry_count;
ALTER TABLE generated_videos DROP COLUMN actual_cost;
ALTER TABLE generated_videos DROP COLUMN estimated_cost;
ALTER TABLE generated_videos DROP COLUMN approved_at;
ALTER TABLE generated_videos DROP COLUMN approved;
ALTER TABLE generated_videos DROP COLUMN storyboard_data;
ALTER TABLE generated_videos DROP COLUMN video_url;
ALTER TABLE generated_videos DROP COLUMN progress;

-- The runner's bookkeeping (created here too when v2 had been applied by hand).
CREATE TABLE IF NOT EXISTS schema_migrations (
    name TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
DELETE FROM schema_migrations
WHERE name IN (
    '001_v2_video_generation.sql', '002_gateway_outbox.sql', '003_job_outputs.sql',
    '004_job_cost_items.sql', '005_webhooks.sql', '006_reliability.sql', '007_checks.sql',
    '008_seed_index_names.sql', '009_paused_jobs.sql', '010_scale_indexes.sql'
);

COMMIT;
