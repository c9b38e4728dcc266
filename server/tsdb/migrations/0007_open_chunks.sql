-- The head's open chunks as the checkpoints beside appends leave them: for a slice of series
-- ids starting at `first_id`, each series' open chunk as its encoder wrote it, in one blob
-- (server/src/store/sqlite/open_chunks.rs). One row per slice instead of one `chunks` row per
-- series: a checkpoint of a million series rewrote a million rows and their rollups. Sealed
-- chunks still go to `chunks` (with their rollups); an explicit checkpoint compacts every open
-- chunk into `chunks` and empties this table.
CREATE TABLE IF NOT EXISTS open_chunks (
    first_id INTEGER PRIMARY KEY,
    data BLOB NOT NULL
);
