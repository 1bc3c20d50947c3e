//! # Machinist
//!
//! Machinist automates Paperspace machines: it runs machine operations
//! (create, start, stop, restart, destroy, update, set access, show, list,
//! utilization, availability, wait for a state) against the Paperspace API,
//! with classified errors and bounded waits, and ships a simulated Paperspace
//! account so that all of it can be tried and tested without an API key.
//!
//! ## Map of the modules
//!
//! - [`paperspace`]: the [`paperspace::MachineApi`] trait the rest of the
//!   daemon depends on, Machinist's machine vocabulary
//!   ([`paperspace::Machine`], [`paperspace::MachineState`], …), the one error
//!   type [`paperspace::ApiError`] with its transient/permanent
//!   classification, the legacy client [`paperspace::legacy::LegacyClient`],
//!   and [`paperspace::wait_for`].
//! - [`sim`]: the simulated Paperspace account served over HTTP
//!   (`machinist sim`): machines that change state over time, utilization,
//!   validation like the real API, injectable faults and call counts.
//! - [`clock`]: the injected source of time, so that tests move time by hand.
//! - [`walkthrough`]: the scripted walk through every operation that
//!   `machinist demo` runs against an in-process simulator.
//! - [`cli`]: the `machinist` command line; `main.rs` only calls into it.
//! - [`config`]: typed settings, layered from defaults, a TOML file and the environment, validated once.

pub mod cli;
pub mod clock;
pub mod config;
pub mod job;
pub mod store;
pub mod worker;
pub mod paperspace;
pub mod sim;
pub mod walkthrough;
