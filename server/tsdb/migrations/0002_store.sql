-- The embedded time-series store (server/src/store/sqlite).

-- One row per series: its id and its label set (length-prefixed name/value pairs).
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    labels BLOB NOT NULL
);

-- Compressed chunks (delta-of-delta timestamps, XOR'd floats), keyed by series and first timestamp.
CREATE TABLE IF NOT EXISTS chunks (
    series_id INTEGER NOT NULL,
    min_t INTEGER NOT NULL,
    max_t INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (series_id, min_t)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS chunks_max_t ON chunks (max_t);

-- Accepted samples not yet in a chunk: one compact record per group commit, deleted at checkpoint.
CREATE TABLE IF NOT EXISTS wal (
    id INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
