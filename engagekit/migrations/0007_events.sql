-- Events: ingest history, exports done before expiry, stream export checkpoints, user erasures.
CREATE TABLE event_ingests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    source        TEXT NOT NULL,          -- file, s3:// URL, "append", "delivery", ...
    received      INTEGER NOT NULL,
    accepted      INTEGER NOT NULL,
    duplicates    INTEGER NOT NULL,
    rejected      INTEGER NOT NULL,
    reasons       TEXT,                   -- JSON {reason: count}
    rejects_path  TEXT,
    ingested_at   TEXT NOT NULL           -- ISO 8601 UTC
);

CREATE TABLE event_exports (
    partition     TEXT NOT NULL,          -- YYYY/MM/DD/hh
    destination   TEXT NOT NULL,          -- folder or s3://bucket/prefix
    rows          INTEGER NOT NULL,
    keys          TEXT,                   -- JSON list of the objects written
    exported_at   TEXT NOT NULL,
    PRIMARY KEY (partition, destination)
);

CREATE TABLE event_stream_files (
    destination   TEXT NOT NULL,          -- kinesis:<stream>, firehose:<stream>, s3://...
    file          TEXT NOT NULL,          -- lake file path relative to the events folder
    rows          INTEGER NOT NULL,
    sent_at       TEXT NOT NULL,
    PRIMARY KEY (destination, file)
);

CREATE TABLE event_erasures (
    user_id         TEXT NOT NULL,
    endpoint_ids    TEXT,                 -- JSON list
    events_deleted  INTEGER NOT NULL,
    deleted_at      TEXT NOT NULL         -- events of the user up to this time are refused on ingest
);
CREATE INDEX event_erasures_by_user ON event_erasures (user_id);
