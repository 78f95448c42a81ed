-- Issue #17: an admin may set a day's limits (PUT /api/v2/billing/budget, for the current
-- UTC day); every change is audited.

-- The limits of one UTC day, when an admin set them; other days use the configured
-- DAILY_BUDGET_SOFT_USD / DAILY_BUDGET_HARD_USD.
CREATE TABLE IF NOT EXISTS budget_overrides (
    day        TEXT PRIMARY KEY,   -- UTC day, YYYY-MM-DD
    soft_usd   REAL NOT NULL,
    hard_usd   REAL NOT NULL,
    set_by     TEXT NOT NULL,
    set_at     TEXT NOT NULL
);

-- Every change of a day's limits: who, when, old -> new, why. Never updated or deleted.
CREATE TABLE IF NOT EXISTS budget_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    day        TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    old_soft   REAL NOT NULL,
    old_hard   REAL NOT NULL,
    new_soft   REAL NOT NULL,
    new_hard   REAL NOT NULL,
    reason     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_budget_changes_day ON budget_changes(day);
