-- Several daemons on one database: who they are, which one leads, and the
-- Paperspace rate limit they share. Times are Unix milliseconds, read from
-- the database's own clock (clock_timestamp()), so that clock skew between
-- hosts does not move a lease.

-- Every daemon that opened this database; a row stays after the daemon
-- stops (`stopped_at`) so `machinist status` can say when it went.
CREATE TABLE daemons (
    -- Its lease owner name: host, pid and a random part.
    id              TEXT    PRIMARY KEY,
    host            TEXT    NOT NULL,
    pid             BIGINT  NOT NULL,
    version         TEXT    NOT NULL,
    -- The newest migration the daemon's binary knows.
    schema_version  BIGINT  NOT NULL,
    started_at      BIGINT  NOT NULL,
    heartbeat_at    BIGINT  NOT NULL,
    stopped_at      BIGINT
);

-- Leases on the work one daemon at a time does ('scheduler': firings,
-- windows, metering, digests, alarms, pruning).
CREATE TABLE leadership (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    -- When the holder took it (unchanged while it renews).
    elected_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);

-- The Paperspace rate limit as one token bucket for every daemon.
CREATE TABLE rate_limit (
    name         TEXT              PRIMARY KEY,
    tokens       DOUBLE PRECISION  NOT NULL,
    refilled_at  BIGINT            NOT NULL
);
