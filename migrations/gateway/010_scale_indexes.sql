-- Issue #18, growth with data: every query of the job list and of the background loops reads
-- an index, so its cost follows the page or the work at hand, not the size of the tables
-- (bench/scale.py measures it with 1,000,000 jobs; tests/integration/test_query_plans.py
-- checks the plans of the queries the code runs).
--
-- generated_videos (the job list, services/gateway/jobs/store.py `page`, newest first):
--   idx_videos_created                   an admin's list without filters
--   idx_videos_status_created            an admin's list by status
--   idx_videos_campaign_created          an admin's list by campaign
--   idx_videos_client_status_created     a client's list by status; the admission check
--                                        (`count_running`: the client's running jobs)
--   idx_videos_client_campaign_created   a client's list by campaign
-- (a client's list without filters reads idx_generated_videos_client_created, 002).
--
-- 008's idx_videos_status and idx_videos_campaign are made again after the new ones, on the
-- same columns. Without statistics SQLite takes, of two indexes that serve a query equally
-- well, the one made last; 008's checks (`SELECT id FROM generated_videos WHERE status = ?`,
-- in deploy/README.md) must keep showing the index their names promise, not
-- idx_videos_status_created (tests/integration/test_seed_conformance.py checks them).
--
-- The loops:
--   idx_stage_requests_open          the reaper's unanswered exports (`stuck_jobs`): the
--                                    unfinished stage requests only, oldest first; without
--                                    it the sweep read every completed job
--   idx_outbox_published             the relay's prune of rows published over a day ago
--   idx_webhook_deliveries_finished  the dispatcher's prune of deliveries finished a week ago
-- The relay's unpublished rows (002) and the dispatcher's due deliveries (005) had theirs.
--
-- Building them reads each table once per index: about 45 s for 1,000,000 jobs on 2 cores
-- (the runner applies the file in one transaction at start-up). Plain SQL with IF [NOT]
-- EXISTS, so `sqlite3 app.db < 010_scale_indexes.sql` works too, and again.
--
-- Verify (sqlite3 app.db; read-only and instant): each line is a SEARCH or a SCAN using
-- the index named, never a bare `SCAN generated_videos`:
--
--   EXPLAIN QUERY PLAN SELECT id FROM generated_videos ORDER BY created_at DESC LIMIT 20;
--     SCAN generated_videos USING INDEX idx_videos_created
--   EXPLAIN QUERY PLAN SELECT id FROM generated_videos WHERE status = 'failed' ORDER BY created_at DESC LIMIT 20;
--     SEARCH generated_videos USING INDEX idx_videos_status_created (status=?)
--   EXPLAIN QUERY PLAN SELECT id FROM generated_videos WHERE client_id = 'c' AND status = 'failed' ORDER BY created_at DESC LIMIT 20;
--     SEARCH generated_videos USING INDEX idx_videos_client_status_created (client_id=? AND status=?)
--   EXPLAIN QUERY PLAN SELECT id FROM generated_videos WHERE client_id = 'c' AND campaign_id = 'spring' ORDER BY created_at DESC LIMIT 20;
--     SEARCH generated_videos USING INDEX idx_videos_client_campaign_created (client_id=? AND campaign_id=?)
CREATE INDEX IF NOT EXISTS idx_videos_created ON generated_videos(created_at);
CREATE INDEX IF NOT EXISTS idx_videos_status_created ON generated_videos(status, created_at);
CREATE INDEX IF NOT EXISTS idx_videos_campaign_created
    ON generated_videos(campaign_id, created_at);
CREATE INDEX IF NOT EXISTS idx_videos_client_status_created
    ON generated_videos(client_id, status, created_at);
CREATE INDEX IF NOT EXISTS idx_videos_client_campaign_created
    ON generated_videos(client_id, campaign_id, created_at);

DROP INDEX IF EXISTS idx_videos_status;
CREATE INDEX IF NOT EXISTS idx_videos_status ON generated_videos(status);
DROP INDEX IF EXISTS idx_videos_campaign;
CREATE INDEX IF NOT EXISTS idx_videos_campaign ON generated_videos(campaign_id);

-- finished_at leads although it is NULL in every entry: `finished_at IS NULL` is then an
-- equality on the index, which makes the planner start the reaper's join here rather than
-- at the completed jobs.
CREATE INDEX IF NOT EXISTS idx_stage_requests_open
    ON stage_requests(finished_at, requested_at) WHERE finished_at IS NULL;
CREATE INDEX IF NOT EXISTS idx_outbox_published
    ON outbox(published_at) WHERE published_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_webhook_deliveries_finished
    ON webhook_deliveries(COALESCE(delivered_at, failed_at));
