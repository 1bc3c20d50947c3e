//! Schedules: cron expressions in IANA time zones, office-hours windows,
//! catch-up after downtime, and the firing loop that turns them into jobs.
//!
//! - [`timing`]: cron expressions evaluated on local wall-clock time, with the
//!   daylight-saving rules (a nonexistent local time fires once at the first
//!   valid instant after it; a repeated one fires once, at its first occurrence).
//! - [`calendar`]: exclusion dates and named holiday calendars.
//! - [`window`]: office hours (days, opening and closing wall times, zone).
//! - [`spec`]: a schedule as written and as stored, misfire and overlap policies.
//! - [`template`]: the job a schedule makes for each target.
//! - [`target`]: explicit machine ids or a selector resolved at fire time.
//! - [`office_hours`]: windows as stored, with their overrides.
//! - [`firing`]: firing plans and the record of every firing.
//! - [`registry`]: validation and storage of schedules and windows; previews.
//! - [`scheduler`]: the firing loop and window enforcement.

pub mod calendar;
pub mod firing;
pub mod office_hours;
pub mod registry;
pub mod scheduler;
pub mod spec;
pub mod target;
pub mod template;
pub mod timing;
pub mod window;
