-- v2: storyboard review, approval, costs, retries. Plain SQL so that
-- `sqlite3 app.db < migrations/gateway/001_v2_video_generation.sql` works on a v1 database.
ALTER TABLE generated_videos ADD COLUMN progress TEXT NOT NULL DEFAULT '{}';
ALTER TABLE generated_videos ADD COLUMN video_url TEXT;
ALTER TABLE generated_videos ADD COLUMN storyboard_data TEXT;
ALTER TABLE generated_videos ADD COLUMN approved INTEGER NOT NULL DEFAULT 0;
ALTER TABLE generated_videos ADD COLUMN approved_at TEXT;
ALTER TABLE generated_videos ADD COLUMN estimated_cost REAL;
ALTER TABLE generated_videos ADD COLUMN actual_cost REAL;
ALTER TABLE generated_videos ADD COLUMN retry_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE generated_videos ADD COLUMN error_message TEXT;
-- ADD COLUMN cannot take a non-constant default, so existing rows are back-filled.
ALTER TABLE generated_videos ADD COLUMN updated_at TEXT;
UPDATE generated_videos SET updated_at = created_at WHERE updated_at IS NULL;

CREATE INDEX IF NOT EXISTS idx_generated_videos_status ON generated_videos(status);
CREATE INDEX IF NOT EXISTS idx_generated_videos_campaign ON generated_videos(campaign_id);
CREATE INDEX IF NOT EXISTS idx_generated_videos_client ON generated_videos(client_id);
CREATE INDEX IF NOT EXISTS idx_generated_videos_updated ON generated_videos(updated_at);
CREATE INDEX IF NOT EXISTS idx_generated_videos_approved ON generated_videos(approved);

-- Any update that does not set updated_at itself gets the current time.
CREATE TRIGGER IF NOT EXISTS update_videos_timestamp
AFTER UPDATE ON generated_videos
FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at
BEGIN
    UPDATE generated_videos
    SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ','now')
    WHERE id = NEW.id;
END;
