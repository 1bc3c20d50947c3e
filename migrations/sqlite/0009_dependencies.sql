-- Job dependencies, machine groups and group runs.

-- The jobs a job waits for, as a JSON array of ids (NULL for none): what the
-- API shows. The edges still to settle are in job_dependencies.
ALTER TABLE jobs ADD COLUMN depends_on TEXT;
-- 'cancel' or 'run'; NULL for a job without dependencies.
ALTER TABLE jobs ADD COLUMN on_dependency_failure TEXT;
-- The group run that made the job, and its step in that run (from 0).
ALTER TABLE jobs ADD COLUMN group_run INTEGER;
ALTER TABLE jobs ADD COLUMN group_step INTEGER;

-- One edge per dependency of a blocked job that has not finished yet: the
-- transaction that finishes a job reads its dependents here (by
-- depends_on) and deletes the edges; a blocked job with no edge left is
-- queued. So the table holds only what is pending, and a job with no
-- dependents pays one index seek when it finishes.
CREATE TABLE job_dependencies (
    job_id     INTEGER NOT NULL,
    depends_on INTEGER NOT NULL,
    PRIMARY KEY (job_id, depends_on)
) WITHOUT ROWID;
CREATE INDEX job_dependencies_on ON job_dependencies (depends_on);

-- A machine's line now counts its blocked jobs: a blocked job keeps its place
-- in submission order, so a later job for the same machine waits behind it
-- (a dependency is always an older job, so the line never waits on a job
-- behind it). Spelled as ORs, as the claim's query spells it (0004 says why).
DROP INDEX jobs_machine_open;
CREATE INDEX jobs_machine_open ON jobs (machine_id, id)
    WHERE state = 'queued' OR state = 'running' OR state = 'waiting' OR state = 'blocked';

-- A run's jobs, for GET /v1/group-runs/{id}.
CREATE INDEX jobs_group_run ON jobs (group_run, id) WHERE group_run IS NOT NULL;

CREATE TABLE machine_groups (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    -- The ordered stages, as JSON: [{"name", "machine_ids" | "selector"}].
    stages     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE group_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The group's name when the run was made (the group may change or go).
    group_name  TEXT    NOT NULL,
    -- start, stop or restart.
    action      TEXT    NOT NULL,
    -- What the start jobs wait for: ready or serviceready.
    wait        TEXT    NOT NULL,
    -- The steps, as JSON: [{"stage", "action", "machine_ids"}], in order.
    steps       TEXT    NOT NULL,
    -- The schedule (or window edge) whose firing made the run; NULL by hand.
    schedule_id INTEGER,
    -- Resumes so far; a resume names the count it read, so two at once
    -- cannot both add jobs.
    resumes     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
