-- Delivery: ledger claim/ownership columns, outcome details, shared pacing state.
ALTER TABLE ledger ADD COLUMN owner TEXT;             -- worker that claimed the row (host:pid:token)
ALTER TABLE ledger ADD COLUMN claimed_at TEXT;        -- ISO 8601 UTC, counts against quotas
ALTER TABLE ledger ADD COLUMN sent_at TEXT;           -- when the provider accepted the message
ALTER TABLE ledger ADD COLUMN idempotency_key TEXT;   -- Message-ID / provider token, stable per row
ALTER TABLE ledger ADD COLUMN error_code TEXT;        -- UPPER_SNAKE outcome code for failures
ALTER TABLE ledger ADD COLUMN outcome TEXT;           -- channel outcome (delivered, bounce, ...)
ALTER TABLE ledger ADD COLUMN user_id TEXT;
ALTER TABLE ledger ADD COLUMN channel_type TEXT;
ALTER TABLE ledger ADD COLUMN country TEXT;           -- ISO region of an SMS destination
ALTER TABLE ledger ADD COLUMN cost REAL;              -- SMS price in USD (segments x country price)
ALTER TABLE ledger ADD COLUMN events_at TEXT;         -- when this row's events reached the lake
ALTER TABLE ledger ADD COLUMN seq INTEGER;            -- position in the plan (send order)
ALTER TABLE ledger ADD COLUMN due_at TEXT;            -- ISO 8601 UTC: not sent before
CREATE INDEX ledger_by_channel ON ledger (channel, claimed_at);
CREATE INDEX ledger_by_run_status ON ledger (run_id, status, seq);
CREATE INDEX ledger_by_channel_sent ON ledger (channel, sent_at);

-- Token buckets shared by every process delivering from this project (GCRA: theoretical
-- arrival time in seconds since the epoch).
CREATE TABLE rate_limits (
    name        TEXT PRIMARY KEY,         -- "channel:<name>" or "campaign:<name>"
    tat         REAL NOT NULL
);
