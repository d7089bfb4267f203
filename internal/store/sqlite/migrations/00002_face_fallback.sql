-- +goose Up
ALTER TABLE jobs ADD COLUMN face_fallback INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE jobs DROP COLUMN face_fallback;
