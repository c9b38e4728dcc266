-- Rollups keep 1 h buckets only (server/src/store/sqlite/rollup.rs): rows written with the
-- former 5 min + 1 h layout are dropped here and rebuilt from their chunks when the store opens.
DELETE FROM rollups;
