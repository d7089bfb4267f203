-- +goose Up
-- A job may say how long it is willing to wait in the queue
-- (max_queue_seconds): not started by this time, it ends expired with
-- queue_deadline_exceeded, unbilled. Only a job that never started lapses. Unix microseconds; NULL: no deadline.
ALTER TABLE jobs ADD COLUMN queue_deadline INTEGER;
CREATE INDEX jobs_queue_deadline ON jobs (queue_deadline) WHERE state = 'queued' AND queue_deadline IS NOT NULL AND started_at IS NULL;

-- +goose Down
DROP INDEX jobs_queue_deadline;
ALTER TABLE jobs DROP COLUMN queue_deadline;
