-- Endpoint import jobs, as Pinpoint's GetImportJobs lists them: one row per import, kept as history.
CREATE TABLE IF NOT EXISTS endpoint_imports (
    job_id        TEXT PRIMARY KEY,
    source        TEXT NOT NULL,        -- file, folder or s3://bucket/prefix
    format        TEXT,                 -- csv, ndjson
    status        TEXT NOT NULL,        -- COMPLETED, FAILED
    started_at    TEXT NOT NULL,        -- ISO 8601 UTC
    finished_at   TEXT,
    files         INTEGER,
    read_rows     INTEGER,
    imported      INTEGER,
    created       INTEGER,
    updated       INTEGER,
    deactivated   INTEGER,
    rejected      INTEGER,
    rejects_path  TEXT,
    error         TEXT
);
CREATE INDEX IF NOT EXISTS endpoint_imports_by_time ON endpoint_imports (started_at);
