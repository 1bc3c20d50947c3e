-- Metering (issue 15): the facts the meter prices machines from, kept as
-- the cost record. None of these tables is pruned with jobs.

-- Paperspace's machine events (v1 `/machine-events`), ingested
-- account-wide, one row per event id: a later copy of an event updates its
-- state, error and times. Times in Unix milliseconds.
CREATE TABLE machine_events (
    id           TEXT    PRIMARY KEY,
    machine_id   TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    -- When Machinist first ingested it, and last changed it.
    saved_at     INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;
-- The window of a month's read, in (created_at, id) order (a WITHOUT ROWID
-- table's index ends with its key).
CREATE INDEX machine_events_created ON machine_events (created_at);
-- Each machine's newest lifecycle event before a window: one seek per
-- machine. The list is `LIFECYCLE` in `store/sqlite/metering.rs`, which
-- spells it the same way so that the planner uses this index.
CREATE INDEX machine_events_lifecycle ON machine_events (machine_id, created_at)
WHERE name IN ('create', 'start', 'restart', 'stop', 'vm-shutdown-force', 'deactivate', 'vm-upgrade');

-- Where the ingestion of the events stands: one row.
CREATE TABLE meter_cursor (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    newest       INTEGER,
    oldest_open  INTEGER,
    ingested_at  INTEGER,
    saved_at     INTEGER NOT NULL
);

-- Stretches between ingestion runs longer than the metering interval.
CREATE TABLE meter_gaps (
    from_at      INTEGER NOT NULL,
    to_at        INTEGER NOT NULL,
    backfilled   INTEGER NOT NULL,
    complete     INTEGER NOT NULL,
    PRIMARY KEY (from_at, to_at)
) WITHOUT ROWID;

-- A machine's prices from when they were first seen: a row whenever a
-- sighting's `usageRate`, `storageRate` or machine type differs from the
-- machine's latest row, written where the machine is recorded as seen.
CREATE TABLE machine_rates (
    machine_id    TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    usage         REAL    NOT NULL,
    storage       REAL    NOT NULL,
    machine_type  TEXT,
    PRIMARY KEY (machine_id, at)
) WITHOUT ROWID;

-- Machines billed monthly rather than hourly, from when so marked.
CREATE TABLE monthly_billing (
    machine_id  TEXT    PRIMARY KEY,
    since       INTEGER NOT NULL
) WITHOUT ROWID;

-- The last check of the account's standing, as Machinist's JSON: one row.
CREATE TABLE account_standing (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    data        TEXT    NOT NULL,
    checked_at  INTEGER NOT NULL
);

-- A state row now says how far off it may be: when the machine was last
-- seen in its previous state (NULL on the rows written before this column).
ALTER TABLE machine_states ADD COLUMN previous_seen_at INTEGER;
-- A machine's first sighting, which the meter needs where no event tells
-- its state (legacy): kept in the machine's own row, written by the insert
-- that records it anyway, rather than as a `machine_states` row that every
-- new machine would cost the writer.
ALTER TABLE machines ADD COLUMN first_seen_at INTEGER;
ALTER TABLE machines ADD COLUMN first_state TEXT;
-- Each machine's states in and before a window: seeks per machine. It
-- replaces the index on `at` alone, so that a change still costs the
-- writer one index entry.
CREATE INDEX machine_states_machine ON machine_states (machine_id, at);
DROP INDEX machine_states_at;

-- Utilization by source: `paperspace` (the legacy pull) and `meter` (what
-- the meter worked out), side by side per (machine, month). SQLite cannot
-- change a primary key in place: the table is rebuilt, its rows kept as
-- pulled from Paperspace.
CREATE TABLE utilization_by_source (
    machine_id         TEXT    NOT NULL,
    month              TEXT    NOT NULL,
    source             TEXT    NOT NULL,
    seconds_used       INTEGER NOT NULL,
    hourly_rate        REAL    NOT NULL,
    storage_seconds    INTEGER NOT NULL,
    monthly_rate       REAL    NOT NULL,
    pulled_at          INTEGER NOT NULL,
    PRIMARY KEY (machine_id, month, source)
);
INSERT INTO utilization_by_source
    (machine_id, month, source, seconds_used, hourly_rate, storage_seconds, monthly_rate, pulled_at)
SELECT machine_id, month, 'paperspace', seconds_used, hourly_rate, storage_seconds, monthly_rate, pulled_at
FROM utilization;
DROP TABLE utilization;
ALTER TABLE utilization_by_source RENAME TO utilization;
