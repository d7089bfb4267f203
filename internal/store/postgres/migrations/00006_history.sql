-- +goose Up
-- What monitoring and cost tracking read (times are timestamptz).
--
-- Each job row keeps its figures: the worker of its last run, when that
-- run started (NULL once the run is billed), the wait from creation to its
-- first start, the last run's time (a completed job's generation time), and
-- what its runs were billed, at the price per second its backend had when
-- the job was created. Costs are in nano-US-dollars, whole numbers, so that
-- sums are exact.
ALTER TABLE jobs ADD COLUMN worker TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN run_started_at TIMESTAMPTZ;
ALTER TABLE jobs ADD COLUMN queue_ms BIGINT;
ALTER TABLE jobs ADD COLUMN run_ms BIGINT;
ALTER TABLE jobs ADD COLUMN billed_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cost_nusd BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN price_nusd BIGINT NOT NULL DEFAULT 0;
-- Jobs that ended, by when: covering what the dashboard reads of them.
CREATE INDEX jobs_finished_at ON jobs (finished_at, state, run_ms) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_created_at ON jobs (created_at);

-- The cost record: one row per billed run, written in the transaction of
-- the transition that ended the run.
CREATE TABLE job_charges (
    id        BIGSERIAL PRIMARY KEY,
    job_id    UUID NOT NULL,
    owner     TEXT NOT NULL,
    backend   TEXT NOT NULL,
    worker    TEXT NOT NULL,
    attempt   INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    billed_ms BIGINT NOT NULL,
    cost_nusd BIGINT NOT NULL,
    reported  BOOLEAN NOT NULL DEFAULT false, -- true: the backend reported the billed time; false: wall time
    at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX job_charges_at ON job_charges (at, owner, billed_ms, cost_nusd);
CREATE INDEX job_charges_job_id ON job_charges (job_id);

-- API requests per minute and status class, a row per replica.
CREATE TABLE request_rollups (
    minute       TIMESTAMPTZ NOT NULL,
    replica      TEXT NOT NULL,
    status_class TEXT NOT NULL,
    requests     BIGINT NOT NULL,
    PRIMARY KEY (minute, replica, status_class)
);

-- Workers' time per minute: slot-time available and slot-time busy.
CREATE TABLE worker_rollups (
    minute      TIMESTAMPTZ NOT NULL,
    worker      TEXT NOT NULL,
    capacity_ms BIGINT NOT NULL,
    busy_ms     BIGINT NOT NULL,
    PRIMARY KEY (minute, worker)
);

-- GPU readings of workers that have one, taken every few seconds while
-- they run jobs and summed per minute: the means are sum ÷ count (a
-- reading that did not give a figure is not counted).
CREATE TABLE gpu_rollups (
    minute            TIMESTAMPTZ NOT NULL,
    worker            TEXT NOT NULL,
    gpu               INTEGER NOT NULL,
    utilization_sum   DOUBLE PRECISION NOT NULL,
    utilization_count BIGINT NOT NULL,
    memory_ratio_sum  DOUBLE PRECISION NOT NULL,
    memory_ratio_count BIGINT NOT NULL,
    PRIMARY KEY (minute, worker, gpu)
);

-- Operators' dashboard sessions: only a hash of each session token.
CREATE TABLE dashboard_sessions (
    hash       TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX dashboard_sessions_expires_at ON dashboard_sessions (expires_at);

-- +goose Down
DROP TABLE dashboard_sessions;
DROP TABLE gpu_rollups;
DROP TABLE worker_rollups;
DROP TABLE request_rollups;
DROP TABLE job_charges;
DROP INDEX jobs_created_at;
DROP INDEX jobs_finished_at;
ALTER TABLE jobs DROP COLUMN price_nusd;
ALTER TABLE jobs DROP COLUMN cost_nusd;
ALTER TABLE jobs DROP COLUMN billed_ms;
ALTER TABLE jobs DROP COLUMN run_ms;
ALTER TABLE jobs DROP COLUMN queue_ms;
ALTER TABLE jobs DROP COLUMN run_started_at;
ALTER TABLE jobs DROP COLUMN worker;
