-- Downsampled aggregates (server/src/store/sqlite/rollup.rs): for each chunk and resolution,
-- the min/max/sum/count of the chunk's samples per aligned bucket, as compressed streams.
-- Keyed like `chunks` so that rewriting a chunk rewrites its rollups and retention (by max_t)
-- deletes both together. Chunks written before this migration get theirs when the store opens.
CREATE TABLE IF NOT EXISTS rollups (
    series_id INTEGER NOT NULL,
    res_ms INTEGER NOT NULL,
    min_t INTEGER NOT NULL,
    max_t INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (series_id, res_ms, min_t)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS rollups_max_t ON rollups (max_t);
