-- +goose Up
-- Times are timestamptz.
CREATE TABLE jobs (
    id                 UUID PRIMARY KEY,
    owner              TEXT NOT NULL,
    idempotency_key    TEXT,
    fingerprint        TEXT NOT NULL DEFAULT '',
    request_id         TEXT NOT NULL DEFAULT '',
    state              TEXT NOT NULL,
    progress           DOUBLE PRECISION NOT NULL DEFAULT 0,
    attempt            INTEGER NOT NULL DEFAULT 0,
    prompt             TEXT NOT NULL DEFAULT '',
    image_key          TEXT NOT NULL,
    audio_key          TEXT NOT NULL,
    width              INTEGER NOT NULL,
    height             INTEGER NOT NULL,
    fps                INTEGER NOT NULL,
    seed               BIGINT NOT NULL,
    audio_duration_ms  BIGINT NOT NULL,
    error_code         TEXT NOT NULL DEFAULT '',
    error_message      TEXT NOT NULL DEFAULT '',
    result_key         TEXT NOT NULL DEFAULT '',
    result_bytes       BIGINT NOT NULL DEFAULT 0,
    result_duration_ms BIGINT NOT NULL DEFAULT 0,
    river_job_id       BIGINT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    started_at         TIMESTAMPTZ,
    finished_at        TIMESTAMPTZ,
    expires_at         TIMESTAMPTZ
);
CREATE UNIQUE INDEX jobs_owner_idempotency_key ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_owner_id ON jobs (owner, id);
CREATE INDEX jobs_state_updated_at ON jobs (state, updated_at);
CREATE INDEX jobs_state_expires_at ON jobs (state, expires_at);

-- +goose Down
DROP TABLE jobs;
