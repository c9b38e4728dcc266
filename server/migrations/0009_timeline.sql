-- One timeline: every event from every source (phase changes, gates, alerts, notifications,
-- acknowledgements, escalations, silences, runbook steps, notes, overrides), append-only, each
-- with its time, kind, actor, subject, the service and phase it belongs to, and a JSON body.
-- The alert pipeline's events move here; their rows are kept, oldest first.
CREATE TABLE IF NOT EXISTS timeline (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    subject TEXT,
    service TEXT,
    phase TEXT,
    body TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS timeline_at ON timeline (at_ms);

INSERT INTO timeline (at_ms, kind, actor, subject, service, phase, body)
SELECT at_ms, 'alert', NULL, group_key, NULL, NULL, json_object('what', what)
FROM alert_events ORDER BY rowid;

DROP TABLE alert_events;

-- The running cutover: one row, its state as JSON (phase, when it began, hold, every gate's
-- colour and green-since, runbook progress, sign-offs), written in the same transaction as the
-- timeline events of each change.
CREATE TABLE IF NOT EXISTS cutover_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL
);
