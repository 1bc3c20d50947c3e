//! # Machinist
//!
//! Machinist automates Paperspace machines. A durable job queue in SQLite
//! holds machine operations (create, start, stop, restart, destroy, update,
//! set access, show, refresh, utilization, availability, wait for a state);
//! workers run them against the Paperspace API with classified retries and
//! wait-for-state checkpoints that survive a restart; an authenticated HTTP
//! admin API (and the CLI over it) submits and follows jobs. A simulated
//! Paperspace account lets all of it run without an API key.
//!
//! ## Map of the modules
//!
//! - [`paperspace`]: the [`paperspace::MachineApi`] trait the rest of the
//!   daemon depends on, Machinist's machine vocabulary
//!   ([`paperspace::Machine`], [`paperspace::MachineState`], …), the one error
//!   type [`paperspace::ApiError`] with its transient/permanent
//!   classification, the legacy client [`paperspace::legacy::LegacyClient`],
//!   [`paperspace::wait_for`], and the shared rate limit
//!   [`paperspace::throttle`].
//! - [`job`]: what a job is: kinds and validated arguments, states and who
//!   moves jobs between them, checkpoints, outcomes, backoff, history events.
//! - [`store`]: SQLite persistence of jobs, history and known machines, with
//!   one group-committing writer.
//! - [`worker`]: the dispatcher that claims due jobs, the steps that run
//!   them, lease renewal and rescue, graceful shutdown.
//! - [`http`]: the authenticated admin API (jobs, history, schedules,
//!   windows, reports, health) with its one JSON error shape.
//! - [`metrics`]: Prometheus metrics: gauges read from the database at
//!   scrape time, counters and histograms fed from the rows jobs and
//!   schedules write.
//! - [`report`]: what machines cost (the monthly utilization pulls) and what
//!   Machinist's stops saved, each stop's hours off ending at the first sign
//!   the machine ran.
//! - [`admin_client`]: the typed client of that API, used by `machinist
//!   jobs`, `schedules`, `windows` and `report`.
//! - [`daemon`]: store, workers and admin API started together
//!   (`machinist serve`), and the Paperspace API the configuration asks for.
//! - [`config`]: typed settings, layered from defaults, a TOML file and the
//!   environment, validated once; secrets kept apart and masked.
//! - [`sim`]: the simulated Paperspace account served over HTTP
//!   (`machinist sim`): machines that change state over time, utilization,
//!   validation like the real API, injectable faults and call counts.
//! - [`schedule`]: cron in IANA zones with exact DST rules, exclusion calendars, office hours.
//! - [`text`]: the characters refused in free text, and how the CLI shows
//!   any it meets.
//! - [`clock`]: the injected source of time, so that tests move time by hand.
//! - [`demo`]: `machinist demo`, the daemon on a temp database against an
//!   in-process simulator, with jobs going through.
//! - [`walkthrough`]: the scripted walk through every operation with the
//!   client alone (`machinist demo --client`).
//! - [`service`]: `serve`'s main loop: systemd notifications, watchdog,
//!   SIGHUP reload, SIGTERM.
//! - [`notify`]: systemd's `sd_notify` (ready, watchdog, stopping).
//! - [`logging`]: the `tracing` subscriber, text or JSON, reloadable level.
//! - [`cli`]: the `machinist` command line; `main.rs` only calls into it.

pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod http;
pub mod job;
pub mod logging;
pub mod machine;
pub mod paperspace;
pub mod schedule;
pub mod scheduler;
pub mod sim;
pub mod store;
pub mod text;
pub mod worker;
