-- Issue #17: paid work over the hard daily budget is accepted and held. A paused job has a
-- row here while it is `paused`: why it waits (`pause`: the Pause block clients read, JSON)
-- and what starts its held stage once billing takes it (`held_request`: the request's
-- subject and payload, and the progress the start writes, JSON). The row is written and
-- deleted in the transaction that moves the job into and out of `paused`
-- (services/gateway/jobs/store.py), so it exists exactly while the job is paused. A table of
-- its own, not columns: the rollback script drops it whatever the database's state.
CREATE TABLE IF NOT EXISTS paused_jobs (
    job_id       TEXT PRIMARY KEY,
    paused_at    TEXT NOT NULL,   -- the pause's `since`, UTC ISO-8601: the resume order
    pause        TEXT NOT NULL,
    held_request TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_paused_jobs_paused_at ON paused_jobs(paused_at, job_id);
