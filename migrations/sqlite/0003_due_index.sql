-- The earliest future run_at among queued and waiting jobs (the dispatcher's
-- sleep), without reading every queued row.
CREATE INDEX jobs_next_due ON jobs (run_at) WHERE state IN ('queued', 'waiting');
