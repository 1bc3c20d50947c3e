-- Which daemon wrote each history row and each firing, so that every
-- daemon's /metrics counts its own work and a sum over daemons counts each
-- once. A daemon's connections carry its id as the setting
-- `machinist.daemon` (given when they connect), which the default reads;
-- rows written before this migration, or by a connection without the
-- setting (a one-shot command), have none. The default is set apart from
-- the column so that existing rows are not given the migrating daemon's id.
ALTER TABLE job_events ADD COLUMN daemon TEXT;
ALTER TABLE job_events ALTER COLUMN daemon SET DEFAULT current_setting('machinist.daemon', true);
ALTER TABLE firings ADD COLUMN daemon TEXT;
ALTER TABLE firings ALTER COLUMN daemon SET DEFAULT current_setting('machinist.daemon', true);
