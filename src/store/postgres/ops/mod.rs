//! The PostgreSQL driver's operations, one file per concept as in the
//! store's handle (`store/handle/`): each `impl PostgresDriver` block runs
//! its writes in a transaction of their own and its reads on the pool.

mod claims;
mod daemons;
mod facts;
mod groups;
mod jobs;
mod machines;
mod metering;
mod reports;
mod schedules;
mod sessions;
mod webhooks;

pub(super) use claims::{Claims, Tried};
pub(super) use daemons::{NOW_MS, schema_version};
