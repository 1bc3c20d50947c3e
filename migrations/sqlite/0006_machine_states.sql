-- Signs that a machine ran, kept for the savings report, which ends a
-- machine's hours off at the first sign it ran after a stop: a machine can
-- be started outside Machinist (console, API), and Machinist's next start
-- may come days later, or find it running and send nothing.
--
-- The writer adds to both in the statements that record a machine as seen
-- (a job's answers, the scheduler's listing), in the same transaction. Not
-- by triggers on `machines`: a trigger makes every upsert of a machine keep
-- a statement journal, which doubled the writer's cost of recording one.

-- Each state a machine was seen in, from when it was first seen in it: a row
-- whenever a known machine's seen state changes, so a repeated state costs
-- no row. A machine's first sighting needs none: hours off begin at a stop
-- by Machinist, whose job saw the machine first, so every sign that counts
-- is a change from a state already known.
CREATE TABLE machine_states (
    machine_id  TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX machine_states_at ON machine_states (at);

-- History starts with each machine as last seen.
INSERT INTO machine_states (machine_id, state, at) SELECT id, state, seen_at FROM machines;

-- Each start operation Paperspace listed in a machine's events (only a
-- machine's `show` carries them), whoever sent it, once. `created_at` is
-- the event's RFC 3339 time as Machinist's JSON spells it. A start that had
-- failed or been cancelled when seen is no sign. The writer adds these rows
-- where it records a seen machine, from the starts its caller picked out of
-- the machine (`SeenMachine::starts`), rather than a trigger reading the
-- machine's JSON on every job's write.
CREATE TABLE machine_starts (
    machine_id  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (machine_id, created_at)
) WITHOUT ROWID;

-- History starts with the starts each machine showed when last seen.
INSERT OR IGNORE INTO machine_starts (machine_id, created_at)
SELECT m.id, e.value ->> '$.created_at' FROM machines m, json_each(m.data, '$.events') e
WHERE e.value ->> '$.name' = 'start' AND e.value ->> '$.created_at' IS NOT NULL
AND e.value ->> '$.state' NOT IN ('error', 'cancelled');
