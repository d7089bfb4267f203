-- +goose Up
ALTER TABLE jobs ADD COLUMN face_fallback BOOLEAN NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE jobs DROP COLUMN face_fallback;
