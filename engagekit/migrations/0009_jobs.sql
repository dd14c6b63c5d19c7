-- Scheduled job claims: one row per due run (campaign occurrence and wave), claimed by exactly
-- one run-due process; failures are retried on later ticks up to a limit.
CREATE TABLE job_runs (
    job_key        TEXT PRIMARY KEY,       -- campaign|occurrence|wave (stable across ticks)
    campaign       TEXT NOT NULL,
    occurrence     TEXT NOT NULL,          -- ISO 8601 UTC of the scheduled occurrence
    wave           TEXT NOT NULL DEFAULT '',  -- time zone of a local-time wave, '' otherwise
    due_at         TEXT NOT NULL,          -- ISO 8601 UTC
    run_id         TEXT NOT NULL,
    status         TEXT NOT NULL,          -- running, completed, failed, abandoned
    attempts       INTEGER NOT NULL DEFAULT 0,
    claimed_by     TEXT,
    claimed_at     TEXT,
    finished_at    TEXT,
    error          TEXT,
    record_path    TEXT
);
CREATE INDEX job_runs_by_campaign ON job_runs (campaign, due_at);
