//! Machinist's integration tests, one binary: each module was a test binary
//! of its own (`tests/<name>.rs`); `harness` starts what they test.
//!
//! `cargo test` runs all of them as threads of this one process, so no test
//! may change process-wide state (environment, current directory, signal
//! dispositions, a global `tracing` subscriber, fixed ports): what a test
//! needs of that kind it gives a child process (`harness::process`).

mod harness;

mod architecture;
mod cli_basics;
mod cli_connection;
mod cli_dry_run;
mod cli_follow;
mod cli_groups;
mod cli_install;
mod cli_output;
mod cli_update;
mod cli_usage;
mod cli_webhooks;
mod config;
mod crash;
mod daemon_jobs;
mod demo;
mod groups;
mod http_cli;
mod http_cost;
mod http_fuzz;
mod http_groups;
mod http_jobs;
mod http_machines;
mod http_openapi;
mod http_schedules;
mod http_webhooks;
mod legacy_client;
mod legacy_wire;
mod logs;
mod metering_month;
mod multi_daemon;
mod official_cli;
mod reports;
mod schedule_timing;
mod scheduler;
mod scheduler_groups;
mod schedules_e2e;
mod sim_legacy;
mod sim_metering;
mod store;
mod store_dependencies;
mod store_metering;
mod store_metering_race;
mod store_webhooks;
mod systemd;
mod ui_browser;
mod ui_fleet;
mod ui_jobs;
mod ui_reports;
mod ui_schedules;
mod ui_session;
mod unknown_targets;
mod v1_client;
mod v1_wire;
mod viewer_token;
mod webhooks;
