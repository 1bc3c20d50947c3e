-- Jobs, their history, and the last known state of every machine.
-- Times are Unix milliseconds (UTC); JSON columns hold Machinist's own vocabulary.

CREATE TABLE jobs (
    -- AUTOINCREMENT: ids are never reused, so cursors stay stable after pruning.
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL,
    machine_id       TEXT,
    args             TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    wait             TEXT,
    wait_timeout_ms  INTEGER NOT NULL DEFAULT 0,
    checkpoint       TEXT,
    result           TEXT,
    last_error       TEXT,
    idempotency_key  TEXT,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER
);

-- Only jobs that ask for a key pay for a unique index entry.
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- The claim: due jobs by priority, then age.
CREATE INDEX jobs_due ON jobs (priority DESC, run_at, id) WHERE state IN ('queued', 'waiting');
-- A machine's line: its unfinished jobs in submission order.
CREATE INDEX jobs_machine_open ON jobs (machine_id, id) WHERE state IN ('queued', 'running', 'waiting');
-- Lease rescue.
CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE state = 'running';
-- Listing by state and pruning.
CREATE INDEX jobs_state ON jobs (state, id);
CREATE INDEX jobs_machine ON jobs (machine_id, id);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE job_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    from_state  TEXT,
    to_state    TEXT,
    message     TEXT    NOT NULL,
    method      TEXT,
    route       TEXT,
    status      INTEGER,
    latency_ms  INTEGER,
    error       TEXT
);

CREATE INDEX job_events_job ON job_events (job_id, id);

CREATE TABLE machines (
    id          TEXT PRIMARY KEY,
    name        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    -- The whole machine as Machinist's JSON, for the API.
    data        TEXT    NOT NULL,
    seen_at     INTEGER NOT NULL,
    -- Set when Paperspace said the machine no longer exists.
    gone_at     INTEGER
);
