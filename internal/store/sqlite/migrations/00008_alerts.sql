-- +goose Up
-- The alerts' recorded state and their outbox (times are Unix microseconds,
-- booleans 0 or 1).
--
-- One row per alert (rule, period and threshold make its key), changed
-- only by statements whose condition is the state they change, so that of
-- two evaluations racing only one starts, repeats or resolves an alert.
-- Payloads are the alerts' content as JSON, kept as text so that an
-- operator can read them with sqlite3.
CREATE TABLE alerts (
    key          TEXT PRIMARY KEY,
    rule         TEXT NOT NULL,
    severity     TEXT NOT NULL,
    summary      TEXT NOT NULL,
    payload      TEXT NOT NULL,
    firing       INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    notified_at  INTEGER NOT NULL,
    resolved_at  INTEGER,
    evaluated_at INTEGER NOT NULL
);
-- Every evaluation reads the firing ones.
CREATE INDEX alerts_firing ON alerts (key) WHERE firing;

-- One message about one alert to one channel, written in the transaction
-- that decided it, with its delivery job; and how its delivery went.
CREATE TABLE alert_notifications (
    id              TEXT PRIMARY KEY,
    alert_key       TEXT NOT NULL,
    rule            TEXT NOT NULL,
    status          TEXT NOT NULL,    -- firing, resolved
    is_repeat       INTEGER NOT NULL, -- a reminder of an alert already notified
    channel         TEXT NOT NULL,
    payload         TEXT NOT NULL,
    starts_at       INTEGER NOT NULL,
    ends_at         INTEGER,
    created_at      INTEGER NOT NULL,
    state           TEXT NOT NULL,    -- pending, delivered, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_attempt_at INTEGER,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    delivered_at    INTEGER
);
CREATE INDEX alert_notifications_created_at ON alert_notifications (created_at, id);
-- Covers the per-channel counts of the summary.
CREATE INDEX alert_notifications_channel ON alert_notifications (channel, state);

-- Each attempt to deliver a notification.
CREATE TABLE alert_attempts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id TEXT NOT NULL,
    channel         TEXT NOT NULL,
    at              INTEGER NOT NULL,
    delivered       INTEGER NOT NULL,
    status          INTEGER NOT NULL, -- HTTP status or SMTP reply code; 0: none
    error           TEXT NOT NULL,
    latency_ms      INTEGER NOT NULL,
    final           INTEGER NOT NULL  -- no attempt follows
);
CREATE INDEX alert_attempts_notification_id ON alert_attempts (notification_id, at);
-- A channel's last attempt, and its last delivery and failures since.
CREATE INDEX alert_attempts_channel_at ON alert_attempts (channel, at);
CREATE INDEX alert_attempts_channel_delivered ON alert_attempts (channel, delivered, at);

-- Requests the rate limit refused per minute and owner, a row per replica.
CREATE TABLE refusal_rollups (
    minute   INTEGER NOT NULL,
    replica  TEXT NOT NULL,
    owner    TEXT NOT NULL,
    refusals INTEGER NOT NULL,
    PRIMARY KEY (minute, replica, owner)
);

-- +goose Down
DROP TABLE refusal_rollups;
DROP TABLE alert_attempts;
DROP TABLE alert_notifications;
DROP TABLE alerts;
