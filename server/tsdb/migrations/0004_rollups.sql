-- Downsampled aggregates (server/src/store/sqlite/rollup.rs): for each chunk, the min/max/sum/count
-- of its samples per aligned 5 min and 1 h bucket, in one compact blob.
-- Keyed like `chunks` so that rewriting a chunk rewrites its rollups. No index on max_t: it would
-- cost a quarter byte per sample; retention's scan of this small table is cheap by comparison.
-- Chunks written before this migration get theirs when the store opens.
CREATE TABLE IF NOT EXISTS rollups (
    series_id INTEGER NOT NULL,
    min_t INTEGER NOT NULL,
    max_t INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (series_id, min_t)
) WITHOUT ROWID;
