-- What the checkpoints beside appends wrote over `open_chunks` since its rows were last written
-- whole: for the 64 series from `first_id`, each changed series' chunk from where its stored
-- stream was cut (server/src/store/sqlite/open_chunks.rs), applied in `id` order. A checkpoint
-- then writes each series' new samples once, not its whole open chunk; when the tails grow as
-- big as the rows, it rewrites the rows whole and deletes them.
CREATE TABLE IF NOT EXISTS open_chunk_tails (
    id INTEGER PRIMARY KEY,
    first_id INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS open_chunk_tails_first_id ON open_chunk_tails (first_id, id);
