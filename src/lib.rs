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
//! Lowest layer first; a module imports only modules above it in this list
//! (checked by `tests/api/architecture.rs`; `CONTRIBUTING.md` has the rule and
//! the reasons).
//!
//! - [`clock`]: the injected source of time, so that tests move time by hand.
//! - [`text`]: the characters refused in free text, and how the CLI shows any
//!   it meets.
//! - [`machine`]: Machinist's vocabulary: [`machine::Machine`],
//!   [`machine::MachineState`], the requests that change machines, account
//!   facts (billing months, utilization, templates), wait targets and the
//!   record of a Paperspace call. Everything below speaks it.
//! - [`job`]: what a job is: kinds and validated arguments, states and who
//!   moves jobs between them, checkpoints, outcomes, backoff, history events.
//! - [`schedule`]: the schedule model, pure: cron in IANA zones with exact DST
//!   rules, exclusion calendars, windows and their overrides, templates,
//!   targets, firing records.
//! - [`group`]: machine groups, pure: ordered stages of machines, and the
//!   runs that start them in order and stop them in reverse, as jobs that
//!   depend on the step before.
//! - [`meter`]: metering, pure: running intervals built from Paperspace's
//!   machine events and the states Machinist saw, priced per machine and
//!   month with how each figure was derived; savings against baselines;
//!   the forecast of a schedule or window.
//! - [`webhook`]: webhooks' nouns, pure: endpoints and their filters, the
//!   event catalogue and each event's contents, `whsec_` secrets and the
//!   Standard Webhooks signature, the destination policy, the `slack`
//!   format.
//! - [`paperspace`]: the client: the [`paperspace::MachineApi`] trait the
//!   workers and the scheduler call, its legacy ([`paperspace::legacy`]) and
//!   v1 ([`paperspace::v1`]) implementations, the one error type
//!   [`paperspace::ApiError`] with its transient/permanent classification,
//!   [`paperspace::wait_for`], the call log and the shared rate limit
//!   ([`paperspace::throttle`]).
//! - [`sim`]: the simulated Paperspace account served over HTTP
//!   (`machinist sim`): both APIs, machines that change state over time,
//!   utilization, validation like the real API, injectable faults and call
//!   counts.
//! - [`store`]: persistence of jobs, history, machines and schedules behind one
//!   handle, [`store::Store`], with a driver seam and the SQLite driver.
//! - [`cost`]: what machines cost and saved: the [`cost::Ledger`] reads a
//!   span's facts from the store and meters them; the cost report, the
//!   savings behind it, and the forecast of a plan.
//! - [`config`]: typed settings, layered from defaults, a TOML file and the
//!   environment, validated once; secrets kept apart and masked.
//! - [`logging`]: the `tracing` subscriber, text or JSON, reloadable level.
//! - [`delivery`]: webhooks at run time: publishing events (stored with
//!   their deliveries, or skipped when no endpoint wants them), sending
//!   signed deliveries from the queue's `webhooks` lane, the
//!   machine-left-running alarm and the weekly digest.
//! - [`worker`]: the dispatcher that claims due jobs, the steps that run them,
//!   lease renewal and rescue, graceful shutdown.
//! - [`scheduler`]: the firing loop that turns schedules and windows into jobs,
//!   window enforcement, and the registry that validates and stores them.
//! - [`http`]: the authenticated admin API (jobs, history, schedules, windows,
//!   reports, health, metrics, its OpenAPI document) with its route table and
//!   one JSON error shape; what machines cost and saved ([`http::cost`]) and
//!   the Prometheus metrics (`http/metrics.rs`) are served only here.
//! - [`daemon`]: `machinist serve`: the store, workers, scheduler and admin API
//!   started together and stopped gracefully; the service loop (systemd
//!   notifications, watchdog, SIGHUP reload, SIGTERM), pruning, and the one
//!   place that builds a Paperspace client from settings.
//! - [`cli`]: the `machinist` command line, its typed client of the admin API
//!   ([`cli::admin_client`]), `machinist demo` and its walkthrough; `main.rs`
//!   only calls into it.

pub mod cli;
pub mod clock;
pub mod config;
pub mod cost;
pub mod daemon;
pub mod delivery;
pub mod group;
pub mod http;
pub mod job;
pub mod logging;
pub mod machine;
pub mod meter;
pub mod paperspace;
pub mod schedule;
pub mod scheduler;
pub mod sim;
pub mod store;
pub mod text;
pub mod webhook;
pub mod worker;
