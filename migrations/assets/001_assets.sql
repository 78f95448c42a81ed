-- The assets service's own database (assets.db): one row per accepted upload.
-- Files live in storage under `key`/`thumbnail_key`; the row is written last, so an
-- asset is registered only once its files are in place.
CREATE TABLE IF NOT EXISTS assets (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    mime_type       TEXT NOT NULL,
    bytes           INTEGER NOT NULL,
    width           INTEGER,
    height          INTEGER,
    duration_s      REAL,
    storage_key     TEXT NOT NULL UNIQUE,
    thumbnail_key   TEXT,
    dominant_colors TEXT NOT NULL DEFAULT '[]',
    original_name   TEXT,
    sha256          TEXT NOT NULL,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);

CREATE INDEX IF NOT EXISTS idx_assets_client_created ON assets(client_id, created_at, id);
CREATE INDEX IF NOT EXISTS idx_assets_created ON assets(created_at, id);
CREATE INDEX IF NOT EXISTS idx_assets_client_sha256 ON assets(client_id, sha256);
