-- The history's reference to its job is no longer checked by PostgreSQL.
-- Every history row is written in the statement or transaction that
-- writes (and so locks) its job, and pruning deletes a job's history
-- before the job (store/postgres/jobs.rs, `prune`), so the check never
-- refused a row; yet each of a job's four or more rows paid for it: a
-- trigger, a lookup of the job and a lock on it. Without it the server
-- spends about 5% less time per job (benchmark scenario 7, nine runs
-- each, A/B: 441 against 464 microseconds per job with one daemon).
-- SQLite keeps its foreign key: there it costs a lookup and no lock.
ALTER TABLE job_events DROP CONSTRAINT job_events_job_id_fkey;
