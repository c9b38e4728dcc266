-- The alert pipeline's durable state: the dispatcher's groups (so a restart between tiers
-- neither loses nor repeats one), the outbox (every notification is written before it is sent),
-- every delivery attempt (for the timeline), silences, and the alert events of the timeline.
CREATE TABLE IF NOT EXISTS alert_dispatch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT NOT NULL,
    receiver TEXT NOT NULL,
    group_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    notification TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    deadline_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    last_error TEXT
);

CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS outbox_attempts (
    delivery_id INTEGER NOT NULL REFERENCES outbox (id),
    at_ms INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT
);

CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_ms INTEGER NOT NULL,
    ends_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS alert_events (
    at_ms INTEGER NOT NULL,
    group_key TEXT,
    what TEXT NOT NULL
);
