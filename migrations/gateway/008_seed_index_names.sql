-- Issue #17: the five single-column indexes of generated_videos that 001 made as
-- idx_generated_videos_* take the names idx_videos_status, idx_videos_campaign,
-- idx_videos_client, idx_videos_updated and idx_videos_approved, on the same columns.
-- SQLite cannot rename an index, so each is dropped and created again under its new name
-- (the runner applies the file in one transaction); rebuilding reads the table once per
-- index. idx_generated_videos_client_created (002, client_id + created_at, the job list's
-- order) has no other name to take and stays. Plain SQL with IF [NOT] EXISTS, so
-- `sqlite3 app.db < 008_seed_index_names.sql` works too, and again changes nothing.
--
-- Verify (sqlite3 app.db; read-only and instant). The index list holds the five names,
-- idx_generated_videos_client_created and the primary key's sqlite_autoindex_generated_videos_1,
-- and each query below is a SEARCH using the index shown under it
-- (tests/integration/test_seed_conformance.py runs these very lines):
--
--   PRAGMA index_list(generated_videos);
--   EXPLAIN QUERY PLAN SELECT id FROM generated_videos WHERE status = 'rendering';
--     SEARCH generated_videos USING INDEX idx_videos_status (status=?)
--   EXPLAIN QUERY PLAN SELECT id FROM generated_videos WHERE campaign_id = 'spring';
--     SEARCH generated_videos USING INDEX idx_videos_campaign (campaign_id=?)
--   EXPLAIN QUERY PLAN SELECT id FROM generated_videos WHERE client_id = 'client-1';
--     SEARCH generated_videos USING INDEX idx_videos_client (client_id=?)
--   EXPLAIN QUERY PLAN SELECT id FROM generated_videos WHERE updated_at < '2026-01-01';
--     SEARCH generated_videos USING INDEX idx_videos_updated (updated_at<?)
--   EXPLAIN QUERY PLAN SELECT id FROM generated_videos WHERE approved = 1;
--     SEARCH generated_videos USING INDEX idx_videos_approved (approved=?)
DROP INDEX IF EXISTS idx_generated_videos_status;
CREATE INDEX IF NOT EXISTS idx_videos_status ON generated_videos(status);

DROP INDEX IF EXISTS idx_generated_videos_campaign;
CREATE INDEX IF NOT EXISTS idx_videos_campaign ON generated_videos(campaign_id);

DROP INDEX IF EXISTS idx_generated_videos_client;
CREATE INDEX IF NOT EXISTS idx_videos_client ON generated_videos(client_id);

DROP INDEX IF EXISTS idx_generated_videos_updated;
CREATE INDEX IF NOT EXISTS idx_videos_updated ON generated_videos(updated_at);

DROP INDEX IF EXISTS idx_generated_videos_approved;
CREATE INDEX IF NOT EXISTS idx_videos_approved ON generated_videos(approved);
