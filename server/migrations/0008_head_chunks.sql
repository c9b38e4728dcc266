-- The head's open chunks as the checkpoints beside appends leave them (server/src/store/sqlite):
-- one row per series, its open chunk's stream as its encoder wrote it (without the chunk
-- header: `count` samples from `min_t`). Each checkpoint appends what the series got since,
-- rewriting the row from byte `cut` on, so the head can drop the stored start of each open
-- chunk from memory and read it back from here. Replaces `open_chunks`, whose rows a
-- checkpoint rewrote whole (still read at open, then emptied).
CREATE TABLE IF NOT EXISTS head_chunks (
    series_id INTEGER PRIMARY KEY,
    min_t INTEGER NOT NULL,
    count INTEGER NOT NULL,
    cut INTEGER NOT NULL,
    data BLOB NOT NULL
);
