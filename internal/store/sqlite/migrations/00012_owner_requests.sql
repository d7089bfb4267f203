-- +goose Up
-- Each customer's API requests per minute, a row per replica: GET /usage
-- reports them. Kept, like the other rollups, for the monitoring history's
-- retention.
CREATE TABLE owner_request_rollups (
    minute   INTEGER NOT NULL,
    replica  TEXT NOT NULL,
    owner    TEXT NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (owner, minute, replica)
);

-- +goose Down
DROP TABLE owner_request_rollups;
