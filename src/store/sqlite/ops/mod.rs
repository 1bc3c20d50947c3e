//! The SQLite driver's operations, one file per concept as in the store's
//! handle (`store/handle/`): each `impl SqliteDriver` block turns a write
//! into its family's command for the writer (`super::command`) and runs
//! reads on the read pool. Nothing else in the driver imports these files,
//! so the families (`super::{jobs,claims,…}`) never see the handle.

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
