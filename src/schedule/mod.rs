//! The schedule model: cron expressions in IANA time zones, windows,
//! exclusion calendars and catch-up rules, as pure values with no store and
//! no clock of their own. The loop that fires them is [`crate::scheduler`].
//!
//! - [`timing`]: cron expressions evaluated on local wall-clock time, with the
//!   daylight-saving rules (a nonexistent local time fires once at the first
//!   valid instant after it; a repeated one fires once, at its first occurrence).
//! - [`calendar`]: exclusion dates and named holiday calendars.
//! - [`hours`]: a window's hours (days, opening and closing wall times, zone)
//!   and its edges.
//! - [`window`]: windows as people define and store them, with per-machine
//!   overrides.
//! - [`spec`]: a schedule as written and as stored, misfire and overlap policies.
//! - [`template`]: the job a schedule makes for each target.
//! - [`target`]: explicit machine ids or a selector resolved at fire time.
//! - [`firing`]: firing plans and the record of every firing.

pub mod calendar;
pub mod firing;
pub mod hours;
pub mod spec;
pub mod target;
pub mod template;
pub mod timing;
pub mod window;
