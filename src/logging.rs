//! Logging with `tracing`: readable lines or JSON on stderr, at the level of
//! `RUST_LOG` or the configuration, changeable while running (SIGHUP).
//!
//! Logs go to stderr so that stdout stays for a command's own output
//! (`machinist sim` promises its address as the first stdout line); under
//! systemd both end up in the journal.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config::LogFormat;

/// The handle that swaps the installed filter. The subscriber is global, so
/// its handle is too: one per process, set by [`init`].
static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `level`.
/// A second call does nothing (tests may call it more than once).
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    // Colours only for a person at a terminal: not in the journal, a file or a pipe.
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    if installed.is_ok() {
        let _ = FILTER.set(handle);
    }
}

/// What [`set_level`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelChange {
    /// The filter is now this.
    Set(String),
    /// `RUST_LOG` is set and wins over the configuration.
    OverriddenByRustLog,
}

/// Why the level could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum LevelError {
    #[error("logging was not set up by machinist")]
    NotInstalled,
    #[error("`{level}` is not a tracing filter: {reason}")]
    BadFilter { level: String, reason: String },
    #[error("the log filter could not be replaced: {0}")]
    Reload(String),
}

/// Replaces the log filter with `level`, unless `RUST_LOG` is set.
pub fn set_level(level: &str) -> Result<LevelChange, LevelError> {
    if std::env::var_os("RUST_LOG").is_some_and(|v| !v.is_empty()) {
        return Ok(LevelChange::OverriddenByRustLog);
    }
    let handle = FILTER.get().ok_or(LevelError::NotInstalled)?;
    let filter = EnvFilter::try_new(level).map_err(|e| LevelError::BadFilter {
        level: level.to_string(),
        reason: e.to_string(),
    })?;
    handle
        .reload(filter)
        .map_err(|e| LevelError::Reload(e.to_string()))?;
    Ok(LevelChange::Set(level.to_string()))
}
