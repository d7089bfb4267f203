-- +goose Up
-- What monitoring and cost tracking read (times are Unix microseconds).
--
-- Each job row keeps its figures: the worker of its last run, when that
-- run started (NULL once the run is billed), the wait from creation to its
-- first start, the last run's time (a completed job's generation time), and
-- what its runs were billed, at the price per second its backend had when
-- the job was created. Costs are in nano-US-dollars, whole numbers, so that
-- sums are exact.
ALTER TABLE jobs ADD COLUMN worker TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN run_started_at INTEGER;
ALTER TABLE jobs ADD COLUMN queue_ms INTEGER;
ALTER TABLE jobs ADD COLUMN run_ms INTEGER;
ALTER TABLE jobs ADD COLUMN billed_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN cost_nusd INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN price_nusd INTEGER NOT NULL DEFAULT 0;
-- Jobs that ended, by when: covering what the dashboard reads of them.
CREATE INDEX jobs_finished_at ON jobs (finished_at, state, run_ms) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_created_at ON jobs (created_at);

-- The cost record: one row per billed run, written in the transaction of
-- the transition that ended the run.
CREATE TABLE job_charges (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id    TEXT NOT NULL,
    owner     TEXT NOT NULL,
    backend   TEXT NOT NULL,
    worker    TEXT NOT NULL,
    attempt   INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    billed_ms INTEGER NOT NULL,
    cost_nusd INTEGER NOT NULL,
    reported  INTEGER NOT NULL DEFAULT 0, -- 1: the backend reported the billed time; 0: wall time
    at        INTEGER NOT NULL
);
CREATE INDEX job_charges_at ON job_charges (at, owner, billed_ms, cost_nusd);
CREATE INDEX job_charges_job_id ON job_charges (job_id);

-- API requests per minute and status class, a row per replica.
CREATE TABLE request_rollups (
    minute       INTEGER NOT NULL,
    replica      TEXT NOT NULL,
    status_class TEXT NOT NULL,
    requests     INTEGER NOT NULL,
    PRIMARY KEY (minute, replica, status_class)
);

-- Workers' time per minute: slot-time available and slot-time busy.
CREATE TABLE worker_rollups (
    minute      INTEGER NOT NULL,
    worker      TEXT NOT NULL,
    capacity_ms INTEGER NOT NULL,
    busy_ms     INTEGER NOT NULL,
    PRIMARY KEY (minute, worker)
);

-- GPU readings of workers that have one, taken every few seconds while
-- they run jobs and summed per minute: the means are sum ÷ count (a
-- reading that did not give a figure is not counted).
CREATE TABLE gpu_rollups (
    minute            INTEGER NOT NULL,
    worker            TEXT NOT NULL,
    gpu               INTEGER NOT NULL,
    utilization_sum   REAL NOT NULL,
    utilization_count INTEGER NOT NULL,
    memory_ratio_sum  REAL NOT NULL,
    memory_ratio_count INTEGER NOT NULL,
    PRIMARY KEY (minute, worker, gpu)
);

-- Operators' dashboard sessions: only a hash of each session token.
CREATE TABLE dashboard_sessions (
    hash       TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
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
