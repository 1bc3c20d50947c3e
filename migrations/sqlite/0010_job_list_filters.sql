-- The dashboard's job list filters (GET /ui/jobs), each served by an index so
-- that a page stays a short index range at any size of the table.

-- By kind, newest first (the jobs_state and jobs_machine indexes serve the
-- other two equality filters the same way).
CREATE INDEX jobs_kind ON jobs (kind, id);
-- A created-at range becomes an id range (ids grow with submission time):
-- this index finds its first and last job.
CREATE INDEX jobs_created ON jobs (created_at);
-- A schedule's jobs, newest first: the firings that queued one.
CREATE INDEX firings_schedule_job ON firings (schedule_id, job_id) WHERE job_id IS NOT NULL;
-- The firing that queued a job, for its page.
CREATE INDEX firings_job ON firings (job_id) WHERE job_id IS NOT NULL;
