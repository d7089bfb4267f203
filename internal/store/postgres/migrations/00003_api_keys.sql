-- +goose Up
-- Customers' API keys: only a hash of each key is kept.
CREATE TABLE api_keys (
    id           UUID PRIMARY KEY,
    hash         TEXT NOT NULL UNIQUE,
    display      TEXT NOT NULL,
    customer     TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    rate_limit   INTEGER NOT NULL DEFAULT 0,
    notes        TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,
    rotated_from UUID,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX api_keys_customer ON api_keys (customer);

-- Who did what to which key, written in the same transaction as the change.
CREATE TABLE api_key_events (
    id      BIGSERIAL PRIMARY KEY,
    key_id  UUID NOT NULL,
    action  TEXT NOT NULL,
    actor   TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '',
    at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX api_key_events_key_id ON api_key_events (key_id, id);

-- +goose Down
DROP TABLE api_key_events;
DROP TABLE api_keys;
