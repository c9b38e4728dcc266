-- What a token may do: `ingest` writes (OTLP, remote_write, alerts and their actions), `read`
-- reads (the query API, alert groups, silences), `admin` both. Tokens made before scopes were
-- agents' and Prometheus servers' ingest tokens, so that is the default.
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'ingest'
    CHECK (scope IN ('ingest', 'read', 'admin'));
