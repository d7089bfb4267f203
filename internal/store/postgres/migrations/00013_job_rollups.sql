-- +goose Up
-- What GET /usage and the report count of the jobs pruned after
-- JOB_RETENTION, folded in before each job's row is deleted: per owner and
-- minute, once at the job's creation (measure 'created') and once at its
-- end ('finished'), by outcome (completed; expired: a video made and since
-- deleted; lapsed: expired in the queue; failed; cancelled) and, for a
-- failure, its code. video_ms sums the jobs' audio. The queries add these
-- rows to those of the jobs still kept: a job is counted in one or the
-- other, never both. Charges are kept in job_charges and need no rollup.
CREATE TABLE job_rollups (
    minute   TIMESTAMPTZ NOT NULL,
    owner    TEXT NOT NULL,
    measure  TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    code     TEXT NOT NULL,
    jobs     BIGINT NOT NULL,
    video_ms BIGINT NOT NULL,
    PRIMARY KEY (owner, minute, measure, outcome, code)
);
CREATE INDEX job_rollups_minute ON job_rollups (minute, measure);

-- +goose Down
DROP TABLE job_rollups;
