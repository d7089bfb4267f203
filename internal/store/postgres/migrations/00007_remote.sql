-- +goose Up
-- A job sent to a backend with a queue of its own (RunPod): the id it has
-- there and the staging key its video is PUT to, kept by the attempt that
-- dispatched it so that a later attempt (after a restart) can follow that
-- run instead of paying for another, or stop it; and how long it waited
-- there before a worker took it (RunPod's delayTime). Its executionTime
-- is the run's billed_ms.
ALTER TABLE jobs ADD COLUMN remote_id TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN remote_output TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN remote_delay_ms BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE jobs DROP COLUMN remote_delay_ms;
ALTER TABLE jobs DROP COLUMN remote_output;
ALTER TABLE jobs DROP COLUMN remote_id;
