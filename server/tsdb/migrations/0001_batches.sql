-- Agent batches already applied: replaying one is a no-op.
CREATE TABLE IF NOT EXISTS batches (
    agent TEXT NOT NULL,
    seq INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (agent, seq)
) WITHOUT ROWID;
