-- +goose Up
-- The backend that generates each job, and the River queue its entry is on.
-- Jobs from before backends had names are the local backend's, on the
-- queue it has always used, where its workers still find them.
ALTER TABLE jobs ADD COLUMN backend TEXT NOT NULL DEFAULT 'local';
ALTER TABLE jobs ADD COLUMN queue TEXT NOT NULL DEFAULT 'generate';

-- +goose Down
ALTER TABLE jobs DROP COLUMN queue;
ALTER TABLE jobs DROP COLUMN backend;
