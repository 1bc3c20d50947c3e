//! Where a configuration is read from: a file path and an environment, both
//! injectable so that tests never depend on the real process.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The config file read when none is given and it exists.
pub const DEFAULT_PATH: &str = "/etc/machinist/machinist.toml";

/// A snapshot of environment variables.
///
/// [`Env::process`] takes the real one; tests build their own with
/// [`Env::empty`], [`Env::with`] or `Env::from([("K", "V")])`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// No variables at all.
    pub fn empty() -> Self {
        Env::default()
    }

    /// The process environment. Variables whose name or value is not UTF-8
    /// are left out (none of Machinist's are).
    pub fn process() -> Self {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect())
    }

    /// This environment plus one variable.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// A variable's value, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A variable's value if set and not empty: `VAR=` in a unit file means unset.
    pub(crate) fn get_non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// All variables, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Only the names: values may be secrets (`PAPERSPACE_API_KEY`).
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Env(iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }
}

impl<K: Into<String>, V: Into<String>, const N: usize> From<[(K, V); N]> for Env {
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

/// What [`Config::load_from`](super::Config::load_from) reads.
#[derive(Debug, Clone)]
pub struct Sources {
    /// A file named explicitly (`--config`); it must exist.
    pub file: Option<PathBuf>,
    /// The file read when `file` is `None`, if it exists; normally [`DEFAULT_PATH`].
    pub default_path: PathBuf,
    /// The environment: `MACHINIST_<SECTION>_<KEY>` overrides and `STATE_DIRECTORY`.
    pub env: Env,
}

impl Sources {
    /// The real thing: an optional explicit file, [`DEFAULT_PATH`], the process environment.
    pub fn process(file: Option<PathBuf>) -> Self {
        Sources {
            file,
            default_path: PathBuf::from(DEFAULT_PATH),
            env: Env::process(),
        }
    }
}
