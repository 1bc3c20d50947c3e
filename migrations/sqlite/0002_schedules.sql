-- Schedules, windows and their overrides, the record of every firing, and
-- utilization pulled from Paperspace.

CREATE TABLE windows (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    name                 TEXT    NOT NULL UNIQUE,
    -- WindowSpec JSON: days, start, end, zone.
    spec                 TEXT    NOT NULL,
    targets              TEXT    NOT NULL,
    exclusions           TEXT    NOT NULL,
    enforce              INTEGER NOT NULL DEFAULT 0,
    enforce_interval_ms  INTEGER NOT NULL,
    -- When enforcement next looks at the targets; NULL when not enforcing or paused.
    next_enforce_at      INTEGER,
    enabled              INTEGER NOT NULL DEFAULT 1,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

CREATE TABLE schedules (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    cron            TEXT    NOT NULL,
    timezone        TEXT    NOT NULL,
    -- JobTemplate JSON: kind, args, wait, …
    template        TEXT    NOT NULL,
    targets         TEXT    NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    jitter_seconds  INTEGER NOT NULL DEFAULT 0,
    exclusions      TEXT    NOT NULL,
    misfire         TEXT    NOT NULL,
    catch_up_ms     INTEGER NOT NULL,
    overlap         TEXT    NOT NULL,
    -- Set for the start and stop schedules a window derives.
    window_id       INTEGER REFERENCES windows (id) ON DELETE CASCADE,
    window_edge     TEXT,
    -- The next firing; NULL while paused.
    next_fire_at    INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;

-- One row per (schedule, fire time, target): the unique key that makes a
-- firing happen once, across restarts and concurrent schedulers.
CREATE TABLE firings (
    schedule_id  INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    fire_at      INTEGER NOT NULL,
    target       TEXT    NOT NULL,
    -- enqueued | caught_up | skipped
    outcome      TEXT    NOT NULL,
    reason       TEXT,
    job_id       INTEGER,
    recorded_at  INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, fire_at, target)
);

CREATE INDEX firings_recent ON firings (schedule_id, recorded_at);
CREATE INDEX firings_target ON firings (schedule_id, target, fire_at);

CREATE TABLE window_overrides (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    window_id   INTEGER NOT NULL REFERENCES windows (id) ON DELETE CASCADE,
    machine_id  TEXT    NOT NULL,
    -- keep_on | keep_off
    mode        TEXT    NOT NULL,
    until       INTEGER NOT NULL,
    reason      TEXT,
    created_at  INTEGER NOT NULL
);

CREATE INDEX window_overrides_active ON window_overrides (window_id, machine_id, until);

CREATE TABLE utilization (
    machine_id         TEXT    NOT NULL,
    month              TEXT    NOT NULL,
    seconds_used       INTEGER NOT NULL,
    hourly_rate        REAL    NOT NULL,
    storage_seconds    INTEGER NOT NULL,
    monthly_rate       REAL    NOT NULL,
    pulled_at          INTEGER NOT NULL,
    PRIMARY KEY (machine_id, month)
);
