-- +goose Up
-- Completion webhooks (times are Unix microseconds, booleans 0 or 1).
--
-- A job's webhook URL and a key's default one are stored sealed
-- (AES-GCM under a key derived from SIGNING_SECRET: a URL may hold a
-- token), with a display form (scheme, host and a short hash) to show.
ALTER TABLE jobs ADD COLUMN webhook_url TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN webhook_display TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN webhook_events TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN webhook_url TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN webhook_display TEXT NOT NULL DEFAULT '';

-- A customer's signing secret, never in clear: the secret is derived from
-- SIGNING_SECRET and this row's random salt. A rotation keeps the previous
-- salt until previous_until, while both signatures are sent.
CREATE TABLE webhook_secrets (
    customer       TEXT PRIMARY KEY,
    salt           TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    previous_salt  TEXT NOT NULL DEFAULT '',
    previous_until INTEGER
);

-- One event of one job to its webhook URL, written in the transaction of
-- the transition it tells of, with its delivery job; and how it went.
-- id is the webhook-id of every attempt.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    job_id          TEXT NOT NULL,
    owner           TEXT NOT NULL,
    event_id        INTEGER NOT NULL,
    type            TEXT NOT NULL,
    url             TEXT NOT NULL,
    display         TEXT NOT NULL,
    event_at        INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    state           TEXT NOT NULL,    -- pending, delivered, failed
    redeliveries    INTEGER NOT NULL DEFAULT 0, -- each redelivery's queue entry is its generation
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_attempt_at INTEGER,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    delivered_at    INTEGER
);
CREATE INDEX webhook_deliveries_job_id ON webhook_deliveries (job_id, event_id);
-- The dashboard's failing endpoints: recent deliveries per owner.
CREATE INDEX webhook_deliveries_owner ON webhook_deliveries (owner, created_at);

CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL,
    at          INTEGER NOT NULL,
    delivered   INTEGER NOT NULL,
    status      INTEGER NOT NULL, -- HTTP status; 0: no answer
    error       TEXT NOT NULL,
    latency_ms  INTEGER NOT NULL,
    final       INTEGER NOT NULL  -- no attempt follows (until a redelivery)
);
CREATE INDEX webhook_attempts_delivery_id ON webhook_attempts (delivery_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_secrets;
ALTER TABLE api_keys DROP COLUMN webhook_display;
ALTER TABLE api_keys DROP COLUMN webhook_url;
ALTER TABLE jobs DROP COLUMN webhook_events;
ALTER TABLE jobs DROP COLUMN webhook_display;
ALTER TABLE jobs DROP COLUMN webhook_url;
