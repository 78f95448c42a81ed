-- Billing's own database (billing.db): the cost ledger, its roll-ups, budget
-- commitments of running jobs, and the daily budget alerts.

-- One row per billed charge. The key (provider:prediction_id:kind) makes a redelivered
-- or re-sent cost event a no-op.
CREATE TABLE IF NOT EXISTS cost_ledger (
    idempotency_key TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL,
    job_id          TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    stage           TEXT NOT NULL,
    scene           INTEGER,
    provider        TEXT NOT NULL,
    model           TEXT NOT NULL,
    prediction_id   TEXT NOT NULL,
    kind            TEXT NOT NULL,
    unit            TEXT NOT NULL,
    units           REAL NOT NULL,
    hardware        TEXT,
    unit_price_usd  REAL NOT NULL,
    amount_usd      REAL NOT NULL,
    outcome         TEXT NOT NULL,
    day             TEXT NOT NULL,   -- UTC day of occurred_at
    occurred_at     TEXT NOT NULL,
    recorded_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_cost_ledger_job ON cost_ledger(job_id);
CREATE INDEX IF NOT EXISTS idx_cost_ledger_day_client ON cost_ledger(day, client_id);

-- Roll-up per job: what it cost so far and what it was quoted.
CREATE TABLE IF NOT EXISTS job_costs (
    job_id        TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL,
    actual_usd    REAL NOT NULL DEFAULT 0,
    estimated_usd REAL,
    cost_events   INTEGER NOT NULL DEFAULT 0,
    outcome       TEXT,              -- completed | failed | canceled once the job ended
    closed_at     TEXT,
    updated_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_job_costs_client ON job_costs(client_id);

-- Roll-up per UTC day, client, model and unit: summaries and today's spend read this.
CREATE TABLE IF NOT EXISTS daily_costs (
    day         TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    model       TEXT NOT NULL,
    unit        TEXT NOT NULL,
    units       REAL NOT NULL DEFAULT 0,
    amount_usd  REAL NOT NULL DEFAULT 0,
    cost_events INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, client_id, model, unit)
);

-- Money reserved for a stage of a job before it starts; open until the job ends.
CREATE TABLE IF NOT EXISTS commitments (
    commit_id   TEXT PRIMARY KEY,
    job_id      TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    stage       TEXT NOT NULL,
    amount_usd  REAL NOT NULL,
    created_at  TEXT NOT NULL,
    released_at TEXT
);
CREATE INDEX IF NOT EXISTS idx_commitments_job ON commitments(job_id);
CREATE INDEX IF NOT EXISTS idx_commitments_open ON commitments(created_at) WHERE released_at IS NULL;

-- At most one alert per level per UTC day; published_at is NULL until it went out, so
-- an alert written just before a crash is sent at the next start.
CREATE TABLE IF NOT EXISTS budget_alerts (
    day          TEXT NOT NULL,
    level        TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    job_id       TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    published_at TEXT,
    PRIMARY KEY (day, level)
);
