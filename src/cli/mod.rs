//! The `machinist` command line.
//!
//! Each subcommand parses its flags here and calls into the library. Errors
//! reach the user as lines on stderr; exit code 1 for a failure, 2 for bad
//! usage or bad configuration (nothing was started).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigErrors, Env, LogFormat};

/// Machinist automates Paperspace machines: a durable job queue, workers
/// with retries and checkpointed waits, and an admin API.
#[derive(Debug, Parser)]
#[command(name = "machinist", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (default: /etc/machinist/machinist.toml if present).
    #[arg(long, global = true, env = "MACHINIST_CONFIG")]
    pub config: Option<PathBuf>,

    /// Log format on stderr (default from the configuration: text).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,

    // The subcommand to run (not a doc comment: clap would show it).
    #[command(subcommand)]
    pub command: Command,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: the job queue, its workers and the admin API.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Validate the configuration and print it, secrets masked.
    CheckConfig,
    /// Submit, list, show, cancel and retry jobs on a running daemon.
    Jobs(crate::cli::jobs::JobsArgs),
    /// Machine groups: stages started in order and stopped in reverse, and
    /// their runs.
    Groups(crate::cli::groups::GroupsArgs),
    /// Add, list, show, preview, pause, resume and remove cron schedules.
    Schedules(crate::cli::schedules::SchedulesArgs),
    /// Office-hours windows and their per-machine overrides.
    Windows(crate::cli::windows::WindowsArgs),
    /// Utilization, savings and cost reports for a month.
    Report(crate::cli::report::ReportArgs),
    /// Machines as the daemon last saw them, or one with its jobs and
    /// schedules; how a machine is billed.
    Machines(crate::cli::machines::MachinesArgs),
    /// Webhook endpoints: where events are POSTed, their secrets, test
    /// pings and deliveries.
    Webhooks(crate::cli::webhooks::WebhooksArgs),
    /// Every job's events, newest first.
    History(crate::cli::history::HistoryArgs),
    /// The daemon's readiness, job counts, queue depth and next firings.
    Status(crate::cli::status::StatusArgs),
    /// A live table of the daemon's machines and jobs, redrawn as they
    /// change, until Ctrl-C (`--once`: one view).
    Top(crate::cli::top::TopArgs),
    /// Serve a simulated Paperspace account over HTTP (no API key, no cost).
    Sim(crate::sim::SimArgs),
    /// The named daemons (url, token file) of the client config
    /// (~/.config/machinist/client.toml or $MACHINIST_CLIENT_CONFIG).
    Contexts(crate::cli::contexts::ContextsArgs),
    /// Run the daemon on a temp database against an in-process simulated
    /// account and watch a few jobs go through.
    Demo(crate::cli::demo::DemoArgs),
    /// Print the example configuration file (config/machinist.example.toml).
    PrintConfigExample,
    /// Print the systemd unit (config/machinist.service).
    PrintUnit,
    /// Print a shell completion script: `machinist completions bash >
    /// /usr/share/bash-completion/completions/machinist`.
    Completions(crate::cli::completions::CompletionsArgs),
    /// Print the manual page (roff): `machinist man | man -l -`.
    Man,
}

pub mod admin_client;
pub mod completions;
mod confirm;
mod connection;
mod contexts;
pub mod demo;
mod follow;
mod groups;
mod history;
mod jobs;
mod machines;
mod output;
mod report;
mod schedules;
pub mod shipped;
mod status;
mod top;
pub mod walkthrough;
mod webhooks;
mod windows;

/// A command's failure and the exit code it deserves.
enum Failure {
    /// Bad configuration: exit 2, one line per problem.
    Config(ConfigErrors),
    /// Anything else: exit 1.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli));
    match result {
        Ok(code) => code,
        Err(Failure::Config(errors)) => {
            eprintln!("error: the configuration is not valid:");
            for error in errors.errors() {
                eprintln!("  {error}");
            }
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {}", crate::text::escape(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> Result<Config, Failure> {
    Config::load(cli.config.as_deref()).map_err(Failure::Config)
}

async fn dispatch(cli: Cli) -> Result<ExitCode, Failure> {
    let format = cli.log_format.map(|f| match f {
        LogFormatArg::Text => LogFormat::Text,
        LogFormatArg::Json => LogFormat::Json,
    });
    match &cli.command {
        Command::Serve => {
            // Report every problem, secrets included, before anything starts.
            let (config, mut errors) = Config::load_with_problems(cli.config.as_deref());
            if let Err(more) = config.secrets_for_serve(&Env::process()) {
                errors.extend(more);
            }
            if !errors.is_empty() {
                return Err(Failure::Config(errors));
            }
            init_logging(&config.log.level, format.unwrap_or(config.log.format));
            crate::daemon::serve(config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let config = load_config(&cli)?;
            init_logging(&config.log.level, format.unwrap_or(config.log.format));
            let options = crate::daemon::DaemonSettings::from_config(&config, None).store;
            let applied = crate::store::migrate(&options)
                .await
                .map_err(anyhow::Error::from)?;
            if applied.is_empty() {
                println!("{}: up to date", options.describe());
            } else {
                println!("{}: applied migrations {applied:?}", options.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => {
            let (config, mut errors) = Config::load_with_problems(cli.config.as_deref());
            let env = Env::process();
            let serve_errors = config.secrets_for_serve(&env).err();
            // The effective configuration is printed when the settings are
            // valid and the secrets readable, even if serving would need more.
            if errors.is_empty()
                && let Ok(secrets) = config.secrets(&env)
            {
                let mut config = config.clone();
                config.resolve_backend(&secrets);
                print!("{}", config.to_toml_masked(&secrets));
                for warning in &secrets.warnings {
                    eprintln!("warning: {warning}");
                }
            }
            errors.extend(serve_errors.unwrap_or_default());
            if errors.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                Err(Failure::Config(errors))
            }
        }
        // These print what is built into the binary: no configuration is
        // read, so they work before there is one.
        Command::PrintConfigExample => {
            completions::print(shipped::CONFIG_EXAMPLE.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::PrintUnit => {
            completions::print(shipped::UNIT.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(args) => {
            completions::print(&completions::completions(args.shell))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            completions::print(&completions::man_page()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Jobs(_)
        | Command::Groups(_)
        | Command::Schedules(_)
        | Command::Windows(_)
        | Command::Report(_)
        | Command::Machines(_)
        | Command::Webhooks(_)
        | Command::History(_)
        | Command::Status(_)
        | Command::Top(_)
        | Command::Contexts(_)
        | Command::Sim(_)
        | Command::Demo(_) => {
            init_logging("warn", format.unwrap_or(LogFormat::Text));
            let code = match cli.command {
                Command::Jobs(args) => jobs::run(args.with_config(cli.config.clone())).await?,
                Command::Groups(args) => groups::run(args.with_config(cli.config.clone())).await?,
                Command::Schedules(args) => {
                    schedules::run(args.with_config(cli.config.clone())).await?
                }
                Command::Windows(args) => {
                    windows::run(args.with_config(cli.config.clone())).await?
                }
                Command::Report(args) => report::run(args.with_config(cli.config.clone())).await?,
                Command::Machines(args) => {
                    machines::run(args.with_config(cli.config.clone())).await?
                }
                Command::Webhooks(args) => {
                    webhooks::run(args.with_config(cli.config.clone())).await?
                }
                Command::History(args) => {
                    history::run(args.with_config(cli.config.clone())).await?
                }
                Command::Status(args) => status::run(args.with_config(cli.config.clone())).await?,
                Command::Top(args) => top::run(args.with_config(cli.config.clone())).await?,
                Command::Contexts(args) => contexts::run(args).await?,
                Command::Sim(args) => crate::sim::run(args).await.map(|()| ExitCode::SUCCESS)?,
                Command::Demo(args) => crate::cli::demo::run(args)
                    .await
                    .map(|()| ExitCode::SUCCESS)?,
                _ => unreachable!("matched above"),
            };
            Ok(code)
        }
    }
}

/// See [`crate::logging`]: stderr, `RUST_LOG` over the configured level.
fn init_logging(level: &str, format: LogFormat) {
    crate::logging::init(level, format);
}
