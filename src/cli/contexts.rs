//! Client contexts: named daemons in the client's own config file, like
//! kubectl contexts or aws profiles, and `machinist contexts` to list them.
//!
//! The file is `$MACHINIST_CLIENT_CONFIG`, else
//! `$XDG_CONFIG_HOME/machinist/client.toml`, else
//! `~/.config/machinist/client.toml`:
//!
//! ```toml
//! current_context = "prod"   # optional: the context used without --context
//! [contexts.prod]
//! url = "https://machinist.example.com:7420"
//! token_file = "/home/me/.config/machinist/prod.token"
//! [contexts.local]
//! url = "http://127.0.0.1:7420"
//! ```
//!
//! It is the client's, not the daemon's: the daemon never reads it. A
//! missing file at the default path means "no contexts"; a missing file that
//! `$MACHINIST_CLIENT_CONFIG` names is an error, since someone asked for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use serde::Deserialize;

use super::connection::{print_table, report_errors};

/// The variable that overrides the client config's path.
pub(super) const CLIENT_CONFIG_VAR: &str = "MACHINIST_CLIENT_CONFIG";
/// The variable that picks a context, like `--context`.
pub(super) const CONTEXT_VAR: &str = "MACHINIST_CONTEXT";

/// The client config file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientConfig {
    /// The context used when neither `--context` nor `$MACHINIST_CONTEXT`
    /// names one.
    pub current_context: Option<String>,
    /// The named daemons.
    #[serde(default)]
    pub contexts: BTreeMap<String, ClientContext>,
}

/// One named daemon.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientContext {
    /// The daemon's admin API, as `--url` takes it.
    pub url: String,
    /// A file holding the admin token; relative paths are taken from the
    /// client config's directory (as kubectl does), `~/` from `$HOME`.
    pub token_file: Option<PathBuf>,
}

/// The client config: where it is and what it holds.
#[derive(Debug, Default)]
pub(super) struct Loaded {
    /// The path it was looked for at; `None` when there is no home to look
    /// in and no `$MACHINIST_CLIENT_CONFIG`.
    pub path: Option<PathBuf>,
    /// The file's contents; the default for a missing file.
    pub config: ClientConfig,
}

/// Where the client config is looked for.
pub(super) fn client_config_path() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(path) = var(CLIENT_CONFIG_VAR) {
        return Some(PathBuf::from(path));
    }
    // XDG says a relative XDG_CONFIG_HOME is invalid and to be ignored.
    if let Some(xdg) = var("XDG_CONFIG_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        return Some(xdg.join("machinist/client.toml"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".config/machinist/client.toml"))
}

/// The client config path as a person should read it in a hint.
pub(super) fn client_config_hint() -> String {
    client_config_path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.config/machinist/client.toml".to_string())
}

/// Reads the client config. A missing file at the default path is no
/// contexts; a missing file named by `$MACHINIST_CLIENT_CONFIG` and a file
/// that does not parse are errors naming the path (and the line).
pub(super) fn load() -> anyhow::Result<Loaded> {
    let explicit = std::env::var_os(CLIENT_CONFIG_VAR).is_some_and(|v| !v.is_empty());
    let Some(path) = client_config_path() else {
        return Ok(Loaded::default());
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Loaded {
                path: Some(path),
                config: ClientConfig::default(),
            });
        }
        Err(e) => bail!(
            "cannot read the client config {} (from ${CLIENT_CONFIG_VAR}): {e}",
            path.display()
        ),
    };
    let config = parse(&path, &text)?;
    Ok(Loaded {
        path: Some(path),
        config,
    })
}

/// Parses a client config, an error reading `PATH:LINE: message`.
fn parse(path: &Path, text: &str) -> anyhow::Result<ClientConfig> {
    let mut config: ClientConfig = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = e.message().trim_end();
        match line {
            Some(line) => anyhow::anyhow!(
                "the client config is not valid: {}:{line}: {message}",
                path.display()
            ),
            None => anyhow::anyhow!(
                "the client config is not valid: {}: {message}",
                path.display()
            ),
        }
    })?;
    // Resolve token files once, here, so every user of a context reads the
    // same file: relative to the config's directory, `~/` from $HOME.
    let base = path.parent().unwrap_or(Path::new(""));
    for context in config.contexts.values_mut() {
        if let Some(file) = &context.token_file {
            context.token_file = Some(resolve_path(base, file));
        }
    }
    if let Some(current) = &config.current_context
        && !config.contexts.contains_key(current)
    {
        bail!(
            "the client config {} sets current_context = \"{current}\", which is not one of its contexts ({})",
            path.display(),
            known(&config)
        );
    }
    Ok(config)
}

fn resolve_path(base: &Path, file: &Path) -> PathBuf {
    if let Ok(rest) = file.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty())
    {
        return PathBuf::from(home).join(rest);
    }
    if file.is_absolute() {
        file.to_path_buf()
    } else {
        base.join(file)
    }
}

/// The context names, for an error: `local, prod` or `none defined`.
fn known(config: &ClientConfig) -> String {
    if config.contexts.is_empty() {
        "none are defined".to_string()
    } else {
        config
            .contexts
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Loaded {
    /// The context to use: `chosen` (`--context` / `$MACHINIST_CONTEXT`),
    /// else `current_context`, else none. An unknown name is an error that
    /// lists the known ones.
    pub(super) fn pick(
        &self,
        chosen: Option<&str>,
    ) -> anyhow::Result<Option<(&str, &ClientContext)>> {
        let name = match chosen.filter(|c| !c.is_empty()) {
            Some(name) => name,
            None => match &self.config.current_context {
                Some(name) => name.as_str(),
                None => return Ok(None),
            },
        };
        match self.config.contexts.get_key_value(name) {
            Some((name, context)) => Ok(Some((name.as_str(), context))),
            None => {
                let place = match &self.path {
                    Some(path) => format!("in {}", path.display()),
                    None => format!("(no client config: set ${CLIENT_CONFIG_VAR} or $HOME)"),
                };
                bail!(
                    "unknown context `{name}` {place}: known contexts: {}",
                    known(&self.config)
                )
            }
        }
    }
}

/// `machinist contexts`: the client config's contexts.
#[derive(Debug, clap::Args)]
pub struct ContextsArgs {
    /// The context to mark as current (default: the file's `current_context`).
    #[arg(long, env = CONTEXT_VAR, value_name = "NAME")]
    context: Option<String>,
}

/// Lists the contexts: a `*` for the one in use, name, URL, token file.
pub async fn run(args: ContextsArgs) -> anyhow::Result<ExitCode> {
    report_errors(async move {
        let loaded = load()?;
        let current = loaded.pick(args.context.as_deref())?.map(|(name, _)| name);
        let rows: Vec<Vec<String>> = loaded
            .config
            .contexts
            .iter()
            .map(|(name, context)| {
                vec![
                    if Some(name.as_str()) == current {
                        "*"
                    } else {
                        ""
                    }
                    .to_string(),
                    name.clone(),
                    context.url.clone(),
                    context
                        .token_file
                        .as_ref()
                        .map(|f| f.display().to_string())
                        .unwrap_or_else(|| "-".to_string()),
                ]
            })
            .collect();
        if rows.is_empty() {
            // Said on stderr so a script reading stdout sees only the table.
            eprintln!(
                "no contexts defined in {}; add a [contexts.NAME] table with url (and token_file)",
                client_config_hint()
            );
        }
        print_table(&["CURRENT", "NAME", "URL", "TOKEN FILE"], &rows);
        Ok(ExitCode::SUCCESS)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_contexts_and_resolves_relative_token_files() {
        let config = parse(
            Path::new("/etc/me/client.toml"),
            "current_context = \"prod\"\n[contexts.prod]\nurl = \"https://m.example.com\"\ntoken_file = \"prod.token\"\n[contexts.local]\nurl = \"127.0.0.1:7420\"\n",
        )
        .unwrap();
        assert_eq!(config.current_context.as_deref(), Some("prod"));
        assert_eq!(
            config.contexts["prod"].token_file.as_deref(),
            Some(Path::new("/etc/me/prod.token"))
        );
        assert_eq!(config.contexts["local"].token_file, None);
    }

    #[test]
    fn malformed_files_name_path_and_line() {
        let e = parse(
            Path::new("/c.toml"),
            "[contexts.prod]\nurl = \"http://x\"\ntokenfile = \"t\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("/c.toml:3:"), "{e}");
        assert!(e.contains("tokenfile"), "{e}");
        let e = parse(Path::new("/c.toml"), "current_context = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("current_context = \"x\""), "{e}");
    }

    #[test]
    fn unknown_contexts_list_the_known_ones() {
        let loaded = Loaded {
            path: Some(PathBuf::from("/c.toml")),
            config: parse(
                Path::new("/c.toml"),
                "[contexts.a]\nurl = \"http://a\"\n[contexts.b]\nurl = \"http://b\"\n",
            )
            .unwrap(),
        };
        assert!(loaded.pick(None).unwrap().is_none());
        assert_eq!(loaded.pick(Some("b")).unwrap().unwrap().0, "b");
        let e = loaded.pick(Some("c")).unwrap_err().to_string();
        assert_eq!(e, "unknown context `c` in /c.toml: known contexts: a, b");
    }
}
