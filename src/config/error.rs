//! Configuration errors: every problem found, each saying where it came from.

use std::fmt;
use std::path::PathBuf;

/// Where a setting's value (or a problem) came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A file: the config file, or a key or token file. `line` is 1-based and
    /// known for values and syntax errors in the config file.
    File { path: PathBuf, line: Option<usize> },
    /// An environment variable (`MACHINIST_WORKERS_COUNT`, `PAPERSPACE_API_KEY`,
    /// or `STATE_DIRECTORY` for a store path derived from it).
    Env { var: String },
}

impl Origin {
    /// The file origin without a line.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Origin::File {
            path: path.into(),
            line: None,
        }
    }

    /// An environment variable origin.
    pub fn env(var: impl Into<String>) -> Self {
        Origin::Env { var: var.into() }
    }

    /// Layering rank: a higher rank overrides a lower one.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Origin::Default => 0,
            Origin::File { .. } => 1,
            Origin::Env { .. } => 2,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File {
                path,
                line: Some(line),
            } => write!(f, "{}:{line}", path.display()),
            Origin::File { path, line: None } => write!(f, "{}", path.display()),
            Origin::Env { var } => write!(f, "env {var}"),
        }
    }
}

/// One problem with the configuration.
///
/// It never contains a secret: messages about key and token files name the
/// file, not what is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where the offending value came from.
    pub origin: Origin,
    /// The setting, as `section.key` (`workers.count`); `None` for problems
    /// with a whole file (unreadable, TOML syntax) or an unknown variable.
    pub key: Option<String>,
    /// Why it is wrong (`must be between 1 and 256 (got 0)`).
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(origin: Origin, key: Option<&str>, message: impl Into<String>) -> Self {
        ConfigError {
            origin,
            key: key.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A default (or a value set in code) has no place worth naming.
        if self.origin != Origin::Default {
            write!(f, "{}: ", self.origin)?;
        }
        match &self.key {
            Some(key) => write!(f, "{key}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one load or check, in the order found.
///
/// `Display` prints one problem per line, so that a user fixes them all in
/// one pass instead of one per restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    /// The problems.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is none (a `ConfigErrors` returned as an error never is).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn push(&mut self, error: ConfigError) {
        self.0.push(error);
    }

    pub(crate) fn extend(&mut self, other: ConfigErrors) {
        self.0.extend(other.0);
    }

    /// `Ok(value)` when nothing was found, else `Err(self)`.
    pub(crate) fn into_result<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}
