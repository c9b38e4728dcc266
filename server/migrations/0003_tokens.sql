-- Agent tokens: only the SHA-256 of each token is kept. A name has at most one live token;
-- revoked rows stay so their token is answered 403 (revoked) rather than 401 (unknown).
CREATE TABLE IF NOT EXISTS tokens (
    hash BLOB PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER
) WITHOUT ROWID;

CREATE UNIQUE INDEX IF NOT EXISTS tokens_live_name ON tokens (name) WHERE revoked_ms IS NULL;
