-- +goose Up
-- What one customer's usage (GET /usage) and the estimate (POST
-- /generate/estimate) read, by owner or backend first: without them a
-- customer's question would read every customer's rows of the range.
CREATE INDEX jobs_owner_created_at ON jobs (owner, created_at);
CREATE INDEX jobs_owner_finished_at ON jobs (owner, finished_at, state, run_ms, audio_duration_ms) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_backend_finished_at ON jobs (backend, finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX job_charges_owner_at ON job_charges (owner, at, billed_ms, cost_nusd);

-- +goose Down
DROP INDEX job_charges_owner_at;
DROP INDEX jobs_backend_finished_at;
DROP INDEX jobs_owner_finished_at;
DROP INDEX jobs_owner_created_at;
