//! The layering: defaults, then the file, then the environment, one key at a
//! time so that every bad key is reported, not just the first.
//!
//! The configuration being built is kept as a TOML table (the defaults
//! serialized). Each value from a layer replaces one key of a copy of that
//! table, and the copy is deserialized into [`Config`]: if that fails, the
//! error belongs to that key alone (all the others are known good), the key
//! keeps its earlier value, and the next key is tried. So the serde
//! definitions in `mod.rs` are the one description of names, types and
//! parsing (durations, enums, addresses) for the file and the environment
//! alike; an environment value is first read as the TOML type of the key's
//! current value (every key has a default, so every key has one).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Value;

use super::error::{ConfigError, ConfigErrors, Origin};
use super::sources::{Env, Sources};
use super::{Config, Provenance, validate};

/// The prefix of configuration variables.
const ENV_PREFIX: &str = "MACHINIST_";

/// Keys people try that are secrets, which never go in the config file:
/// (section, key, where the secret goes instead).
const SECRET_KEYS: [(&str, &str, &str); 3] = [
    (
        "paperspace",
        "api_key",
        "set paperspace.api_key_file, PAPERSPACE_API_KEY or the systemd credential `paperspace-api-key`",
    ),
    (
        "http",
        "admin_token",
        "set http.admin_token_file, MACHINIST_ADMIN_TOKEN or the systemd credential `admin-token`",
    ),
    (
        "http",
        "viewer_token",
        "set http.viewer_token_file, MACHINIST_VIEWER_TOKEN or the systemd credential `viewer-token`",
    ),
];

pub(super) fn load(sources: &Sources) -> Result<Config, ConfigErrors> {
    let (config, errors) = load_lenient(sources);
    errors.into_result(config)
}

/// The configuration as far as it is valid (a rejected value keeps its
/// earlier layer's), with every problem found.
pub(super) fn load_lenient(sources: &Sources) -> (Config, ConfigErrors) {
    let mut layers = Layers::new();
    let file = match &sources.file {
        Some(path) => Some(path.clone()),
        None => match std::fs::metadata(&sources.default_path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            _ => Some(sources.default_path.clone()),
        },
    };
    if let Some(path) = &file {
        layers.apply_file(path);
    }
    layers.apply_env(&sources.env);
    let Layers {
        table,
        origins,
        failed,
        mut errors,
    } = layers;

    let mut config = match Value::Table(table).try_into::<Config>() {
        Ok(config) => config,
        Err(e) => {
            // Each key was checked as it was applied; this would be a bug.
            errors.push(ConfigError::new(Origin::Default, None, e.to_string()));
            return (Config::default(), errors);
        }
    };
    config.provenance = Provenance { file, origins };
    derive(&mut config, &sources.env);
    errors.extend(validate::check(&config, &failed));
    (config, errors)
}

/// Fills in the values whose default depends on others or on the environment.
fn derive(config: &mut Config, env: &Env) {
    if config.store.path.as_os_str().is_empty() {
        config.store.path = match env.get_non_empty("STATE_DIRECTORY") {
            // systemd may list several directories separated by colons; the first is ours.
            Some(dirs) => {
                let dir = dirs.split(':').next().unwrap_or(dirs);
                let origin = Origin::env("STATE_DIRECTORY");
                config
                    .provenance
                    .origins
                    .insert("store.path".into(), origin);
                Path::new(dir).join("machinist.db")
            }
            None => PathBuf::from("./machinist.db"),
        };
    }
    let backend = config.paperspace.backend;
    if config.paperspace.base_url.is_empty()
        && let Some(url) = backend.default_base_url()
    {
        config.paperspace.base_url = url.to_string();
        let origin = config.origin("paperspace.backend");
        config
            .provenance
            .origins
            .insert("paperspace.base_url".into(), origin);
    }
}

struct Layers {
    /// The configuration so far, as TOML: `section -> key -> value`.
    table: toml::Table,
    /// Where each key set by a layer came from.
    origins: BTreeMap<String, Origin>,
    /// Keys whose value was rejected; range checks skip them.
    failed: BTreeSet<String>,
    /// Every problem found so far, reported together.
    errors: ConfigErrors,
}

impl Layers {
    fn new() -> Self {
        let table = toml::Table::try_from(Config::default())
            .expect("the default configuration serializes to TOML");
        Layers {
            table,
            origins: BTreeMap::new(),
            failed: BTreeSet::new(),
            errors: ConfigErrors::default(),
        }
    }

    fn error(&mut self, origin: Origin, key: Option<&str>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(origin, key, message));
    }

    fn sections(&self) -> String {
        self.table
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn section_keys(&self, section: &str) -> String {
        match self.table.get(section) {
            Some(Value::Table(keys)) => keys
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        }
    }

    fn apply_file(&mut self, path: &Path) {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                let why = match e.kind() {
                    io::ErrorKind::NotFound => "no such file".to_string(),
                    io::ErrorKind::InvalidData => "not UTF-8 text".to_string(),
                    _ => e.to_string(),
                };
                self.error(
                    Origin::file(path),
                    None,
                    format!("cannot read the config file: {why}"),
                );
                return;
            }
        };
        let at = |offset: usize| Origin::File {
            path: path.to_path_buf(),
            line: Some(line_of(&text, offset)),
        };
        // The full parser first: it checks everything, duplicates included.
        if let Err(e) = toml::from_str::<toml::Table>(&text) {
            let origin = match e.span() {
                Some(span) => at(span.start),
                None => Origin::file(path),
            };
            self.error(
                origin,
                None,
                format!("invalid TOML: {}", e.message().trim_end()),
            );
            return;
        }
        // Then the spanned tree, for the line of each key.
        let doc = match toml::de::DeTable::parse(&text) {
            Ok(doc) => doc.into_inner(),
            Err(e) => {
                self.error(
                    Origin::file(path),
                    None,
                    format!("invalid TOML: {}", e.message()),
                );
                return;
            }
        };
        for (section, body) in doc {
            let section_name = section.get_ref().to_string();
            let section_origin = at(section.span().start);
            if !self.table.contains_key(&section_name) {
                let message = format!("unknown section; the sections are {}", self.sections());
                self.error(section_origin, Some(&section_name), message);
                continue;
            }
            let toml::de::DeValue::Table(entries) = body.into_inner() else {
                let message = format!("must be a table (`[{section_name}]`)");
                self.error(section_origin, Some(&section_name), message);
                continue;
            };
            for (key, value) in entries {
                let origin = at(key.span().start);
                let key = key.get_ref().to_string();
                match Value::deserialize(toml::de::ValueDeserializer::from(value)) {
                    Ok(value) => self.apply(&section_name, &key, value, origin),
                    Err(e) => {
                        self.error(origin, Some(&format!("{section_name}.{key}")), e.message())
                    }
                }
            }
        }
    }

    fn apply_env(&mut self, env: &Env) {
        for (var, raw) in env.iter() {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let Some(section) = self.table.keys().find(|section| {
                rest.strip_prefix(section.to_ascii_uppercase().as_str())
                    .is_some_and(|after| after.starts_with('_'))
            }) else {
                continue; // not a setting (MACHINIST_ADMIN_TOKEN, a CLI variable…)
            };
            let section = section.clone();
            let key = rest[section.len() + 1..].to_ascii_lowercase();
            let origin = Origin::env(var);
            let like = match self.table.get(&section) {
                Some(Value::Table(keys)) => keys.get(&key).cloned(),
                _ => None,
            };
            let Some(like) = like else {
                // Let `apply` word the unknown (or secret) key.
                self.apply(&section, &key, Value::String(raw.to_string()), origin);
                continue;
            };
            match from_env(raw, &like) {
                Ok(value) => self.apply(&section, &key, value, origin),
                Err(message) => {
                    self.failed.insert(format!("{section}.{key}"));
                    self.error(origin, Some(&format!("{section}.{key}")), message);
                }
            }
        }
    }

    /// Sets one key if its value deserializes, else records why not.
    fn apply(&mut self, section: &str, key: &str, value: Value, origin: Origin) {
        let full = format!("{section}.{key}");
        if let Some((_, _, instead)) = SECRET_KEYS
            .iter()
            .find(|(s, k, _)| *s == section && *k == key)
        {
            let message = format!("secrets do not go in the configuration; {instead}");
            self.error(origin, Some(&full), message);
            return;
        }
        let known =
            matches!(self.table.get(section), Some(Value::Table(keys)) if keys.contains_key(key));
        if !known {
            let message = format!(
                "unknown key; [{section}] has {}",
                self.section_keys(section)
            );
            self.error(origin, Some(&full), message);
            return;
        }
        let mut candidate = self.table.clone();
        if let Some(Value::Table(keys)) = candidate.get_mut(section) {
            keys.insert(key.to_string(), value);
        }
        match Value::Table(candidate.clone()).try_into::<Config>() {
            Ok(_) => {
                self.table = candidate;
                self.failed.remove(&full);
                self.origins.insert(full, origin);
            }
            Err(e) => {
                self.error(origin, Some(&full), e.message());
                self.failed.insert(full);
            }
        }
    }
}

/// Reads an environment value as the TOML type of `like`.
fn from_env(raw: &str, like: &Value) -> Result<Value, String> {
    let trimmed = raw.trim();
    match like {
        Value::Integer(_) => trimmed
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| format!("`{raw}` is not a whole number")),
        Value::Float(_) => trimmed
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|_| format!("`{raw}` is not a number")),
        Value::Boolean(_) => match trimmed {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(format!("`{raw}` is not `true` or `false`")),
        },
        Value::String(_) => Ok(Value::String(raw.to_string())),
        _ => Err("cannot be set from the environment".to_string()),
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_counts_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
        assert_eq!(line_of("a\n", 99), 2);
    }

    #[test]
    fn env_values_take_the_type_of_the_key() {
        assert_eq!(from_env("4", &Value::Integer(8)), Ok(Value::Integer(4)));
        assert_eq!(from_env(" 4 ", &Value::Integer(8)), Ok(Value::Integer(4)));
        assert_eq!(from_env("2", &Value::Float(5.0)), Ok(Value::Float(2.0)));
        assert_eq!(
            from_env("x.db", &Value::String(String::new())),
            Ok(Value::String("x.db".into()))
        );
        assert!(
            from_env("four", &Value::Integer(8))
                .unwrap_err()
                .contains("`four`")
        );
    }

    #[test]
    fn every_key_is_known_to_the_layering() {
        let layers = Layers::new();
        let keys: Vec<String> = layers
            .table
            .iter()
            .flat_map(|(s, keys)| {
                keys.as_table()
                    .unwrap()
                    .keys()
                    .map(move |k| format!("{s}.{k}"))
            })
            .collect();
        assert_eq!(keys.len(), 54, "{keys:?}");
        assert!(keys.contains(&"rate_limit.per_second".to_string()));
    }
}
