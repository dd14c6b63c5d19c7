-- Core tables: user definitions with versions, run history, the delivery ledger, suppression.
CREATE TABLE definitions (
    kind        TEXT NOT NULL,            -- segment, template, campaign, model, ...
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL,            -- the definition's JSON (pydantic model_dump_json)
    created_at  TEXT NOT NULL,            -- ISO 8601 UTC
    comment     TEXT,
    PRIMARY KEY (kind, name, version)
);

CREATE TABLE definition_heads (
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    latest_version  INTEGER NOT NULL,
    active_version  INTEGER NOT NULL,     -- the version used when none is pinned
    deleted_at      TEXT,                 -- deleted definitions stay readable by pinned version
    PRIMARY KEY (kind, name)
);

CREATE TABLE runs (
    run_id          TEXT PRIMARY KEY,
    campaign        TEXT,
    campaign_version INTEGER,
    kind            TEXT NOT NULL DEFAULT 'campaign',   -- campaign, report, direct
    scheduled_for   TEXT,                 -- ISO 8601 UTC
    status          TEXT NOT NULL,        -- planned, running, completed, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    started_at      TEXT,
    finished_at     TEXT,
    error           TEXT,
    record_path     TEXT,                 -- executed notebook kept as the run's record
    details         TEXT                  -- JSON
);
CREATE INDEX runs_by_campaign ON runs (campaign, scheduled_for);

CREATE TABLE ledger (
    run_id        TEXT NOT NULL,
    endpoint_id   TEXT NOT NULL,
    step          TEXT NOT NULL DEFAULT 'send',
    campaign      TEXT,
    treatment     TEXT,
    channel       TEXT,
    address       TEXT,
    status        TEXT NOT NULL,          -- pending, sent, failed, skipped
    message_id    TEXT,
    error         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, endpoint_id, step)
);
CREATE INDEX ledger_by_address ON ledger (address, created_at);

CREATE TABLE suppression (
    address     TEXT PRIMARY KEY,         -- lower-cased email or E.164 number
    reason      TEXT NOT NULL,            -- BOUNCE, COMPLAINT, OPT_OUT, MANUAL
    source      TEXT,                     -- run id, import file, ...
    created_at  TEXT NOT NULL
);
