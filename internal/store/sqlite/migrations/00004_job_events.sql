-- +goose Up
-- Every transition of a job, written in the transaction that made it.
CREATE TABLE job_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    owner      TEXT NOT NULL,
    transition TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    code       TEXT NOT NULL DEFAULT '',
    at INTEGER NOT NULL
);
CREATE INDEX job_events_job_id ON job_events (job_id, id);

-- +goose Down
DROP TABLE job_events;
