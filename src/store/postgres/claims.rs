//! Claims in PostgreSQL: what its writes do inside a transaction (to be written).
