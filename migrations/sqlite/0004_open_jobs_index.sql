-- A machine's line again, with its condition spelled as ORs: SQLite checks
-- a partial index's condition on every insert and update of a job, and an
-- IN list of three or more values builds (and drops) a temporary table each
-- time, which was a quarter of the writer's work. The claim's query spells
-- the condition the same way, so that it can use this index.
DROP INDEX jobs_machine_open;
CREATE INDEX jobs_machine_open ON jobs (machine_id, id)
    WHERE state = 'queued' OR state = 'running' OR state = 'waiting';
