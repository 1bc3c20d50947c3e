-- One row that readiness (`GET /readyz`) updates when nothing else was
-- written lately: a write that must reach the disk like any other, so that
-- a full disk or a lost database file shows while the daemon is idle.
CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    probes INTEGER NOT NULL
);
INSERT INTO write_probe (id, probes) VALUES (1, 0);
