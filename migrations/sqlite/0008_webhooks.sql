-- Webhooks (issue 16): the endpoints events go to, the events published,
-- the marks that keep an alarm from repeating, and the indexes that let
-- deliveries run in a lane of their own. A delivery is a job (kind
-- `deliver`, args `{"endpoint": id, "event": "msg_…"}`), so its retries,
-- leases and history are the queue's own. Times in Unix milliseconds.

-- Where events go. AUTOINCREMENT: an id is never reused, so a delivery of
-- a removed endpoint can never reach a later one that took its id.
CREATE TABLE webhook_endpoints (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Unique when set; config endpoints are matched by it across restarts.
    name             TEXT    UNIQUE,
    url              TEXT    NOT NULL,
    -- standard | slack
    format           TEXT    NOT NULL,
    -- The event types wanted, as a JSON array of their names.
    events           TEXT    NOT NULL,
    -- Subject filters, JSON arrays of ids or names; empty: any.
    machines         TEXT    NOT NULL,
    schedules        TEXT    NOT NULL,
    windows          TEXT    NOT NULL,
    -- Paused by a person: no new deliveries until resumed.
    paused           INTEGER NOT NULL DEFAULT 0,
    -- Why deliveries stopped on their own (a `410 Gone`); NULL while they go.
    disabled         TEXT,
    -- api | config
    source           TEXT    NOT NULL,
    -- `whsec_…`. Never in a job's args, a log line or an error.
    secret           TEXT    NOT NULL,
    -- The secret before the last rotation, which signs too until
    -- `previous_until`.
    previous_secret  TEXT,
    previous_until   INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

-- Each event published, once, whatever the number of its deliveries: a
-- delivery reads it at every attempt (the same `webhook-id` and body each
-- time), and a re-send reads it again.
CREATE TABLE webhook_events (
    -- `msg_` and 32 hex digits.
    id          TEXT    PRIMARY KEY,
    -- The catalogue's name, e.g. `job.failed`.
    type        TEXT    NOT NULL,
    -- When it happened (the payload's timestamp).
    at          INTEGER NOT NULL,
    -- The payload's `data`, JSON.
    data        TEXT    NOT NULL,
    -- What it is about (machine, schedule, window), JSON, for subject
    -- filters; not sent.
    subject     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- When each alarm (by key, e.g. a machine left running) last went out, so
-- that a condition that lasts alarms once per interval, not at every look;
-- set in the transaction that publishes the alarm.
CREATE TABLE alarm_marks (
    key  TEXT    PRIMARY KEY,
    at   INTEGER NOT NULL
) WITHOUT ROWID;

-- An endpoint's deliveries, newest first (`webhooks deliveries`), and its
-- undelivered ones when it is removed. Only deliver jobs pay for an entry.
-- Queries spell the expression and the condition as written here.
CREATE INDEX jobs_deliveries ON jobs (json_extract(args, '$.endpoint'), id) WHERE kind = 'deliver';

-- The claim, per lane: each lane's standing claim walks its own due jobs in
-- claim order, so a backlog of deliveries never lies in the path of a
-- machine's start, nor the reverse. The lists are the kinds of the webhooks
-- lane (`JobKind::lane`); the claims and the next-due reads spell each
-- condition exactly so (`store/sqlite/jobs.rs`), as their `INDEXED BY`
-- needs. Two values in a list cost no temporary table (see 0004).
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (priority DESC, run_at, id)
    WHERE state IN ('queued', 'waiting') AND kind NOT IN ('deliver', 'digest');
CREATE INDEX jobs_due_webhooks ON jobs (priority DESC, run_at, id)
    WHERE state IN ('queued', 'waiting') AND kind IN ('deliver', 'digest');

-- Each lane's dispatcher sleeps until its own next due job (see 0003).
DROP INDEX jobs_next_due;
CREATE INDEX jobs_next_due ON jobs (run_at)
    WHERE state IN ('queued', 'waiting') AND kind NOT IN ('deliver', 'digest');
CREATE INDEX jobs_next_due_webhooks ON jobs (run_at)
    WHERE state IN ('queued', 'waiting') AND kind IN ('deliver', 'digest');
