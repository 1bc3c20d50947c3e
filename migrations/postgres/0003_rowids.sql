-- What SQLite's implicit rowids gave the queries that order by them: the
-- order `machine_states` rows were written (a machine seen twice in one
-- millisecond) and the metrics' cursor over `firings`. Identity values are
-- taken at insert, so under a sighting's row lock they follow the order
-- written; `ctid` does not once several connections insert.
ALTER TABLE machine_states ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
ALTER TABLE firings ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE INDEX firings_seq ON firings (seq);
