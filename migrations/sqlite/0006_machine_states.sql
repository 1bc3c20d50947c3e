-- Signs that a machine ran, kept for the savings report, which ends a
-- machine's hours off at the first sign it ran after a stop: a machine can
-- be started outside Machinist (console, API), and Machinist's next start
-- may come days later, or find it running and send nothing.
--
-- Triggers on `machines` keep both tables, so that every path that records
-- a machine as seen (a job's answers, the scheduler's listing) records them
-- in the same transaction.

-- Each state a machine was seen in, from when it was first seen in it: a row
-- when a machine is first seen and whenever its seen state changes, so a
-- repeated state costs no row.
CREATE TABLE machine_states (
    machine_id  TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX machine_states_at ON machine_states (at);

-- History starts with each machine as last seen.
INSERT INTO machine_states (machine_id, state, at) SELECT id, state, seen_at FROM machines;

CREATE TRIGGER machine_states_first AFTER INSERT ON machines
BEGIN
    INSERT INTO machine_states (machine_id, state, at) VALUES (NEW.id, NEW.state, NEW.seen_at);
END;

CREATE TRIGGER machine_states_changed AFTER UPDATE OF state ON machines
WHEN OLD.state IS NOT NEW.state
BEGIN
    INSERT INTO machine_states (machine_id, state, at) VALUES (NEW.id, NEW.state, NEW.seen_at);
END;

-- Each start operation Paperspace listed in a machine's events (only a
-- machine's `show` carries them), whoever sent it, once. `created_at` is
-- the event's RFC 3339 time as Machinist's JSON spells it. A start that had
-- failed or been cancelled when seen is no sign. The inserts skip known
-- starts by NOT EXISTS rather than OR IGNORE: a trigger's conflict clause
-- gives way to the upsert's that fired it, and a conflict here would fail
-- the write that recorded the machine.
CREATE TABLE machine_starts (
    machine_id  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (machine_id, created_at)
) WITHOUT ROWID;

CREATE TRIGGER machine_starts_first AFTER INSERT ON machines
BEGIN
    INSERT INTO machine_starts (machine_id, created_at)
    SELECT DISTINCT NEW.id, e.value ->> '$.created_at' FROM json_each(NEW.data, '$.events') e
    WHERE e.value ->> '$.name' = 'start' AND e.value ->> '$.created_at' IS NOT NULL
    AND e.value ->> '$.state' NOT IN ('error', 'cancelled')
    AND NOT EXISTS (SELECT 1 FROM machine_starts s
                    WHERE s.machine_id = NEW.id AND s.created_at = e.value ->> '$.created_at');
END;

CREATE TRIGGER machine_starts_seen AFTER UPDATE OF data ON machines
BEGIN
    INSERT INTO machine_starts (machine_id, created_at)
    SELECT DISTINCT NEW.id, e.value ->> '$.created_at' FROM json_each(NEW.data, '$.events') e
    WHERE e.value ->> '$.name' = 'start' AND e.value ->> '$.created_at' IS NOT NULL
    AND e.value ->> '$.state' NOT IN ('error', 'cancelled')
    AND NOT EXISTS (SELECT 1 FROM machine_starts s
                    WHERE s.machine_id = NEW.id AND s.created_at = e.value ->> '$.created_at');
END;
