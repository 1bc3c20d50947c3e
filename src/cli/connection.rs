//! What the subcommands that talk to a running daemon share (`machinist
//! jobs`, `schedules`, `windows`, `report`): finding the daemon and its
//! token, reporting errors, and printing.
//!
//! The daemon is found at `--url`, else `$MACHINIST_URL`, else the chosen
//! context's `url` (see [`super::contexts`]), else `http://` + the config's
//! `http.listen` (the config read as the daemon reads it: the top-level
//! `--config` or `$MACHINIST_CONFIG`, else the default path). A URL without
//! a scheme is taken as `http://`.
//!
//! The admin token comes from the first of: `--token`, `--token-file`,
//! `$MACHINIST_ADMIN_TOKEN`, the chosen context's `token_file`, and where
//! the daemon reads it (`http.admin_token_file` or the systemd credential).
//! Environment variables beat the context, as `AWS_*` variables beat an aws
//! profile: a context is the default, what is set for this run wins.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::output::{OutputArgs, Style};
use crate::cli::admin_client::AdminClient;
use crate::config::{AdminToken, Config, Env};
use crate::text::escape;

/// The variable that holds the admin token for the CLI.
pub(super) const TOKEN_VAR: &str = "MACHINIST_ADMIN_TOKEN";

// The arguments of a subcommand that acts on one schedule or window by its
// key and may print the API's JSON (`pause`, `resume`, `overrides`). Plain
// comments, not doc comments: clap would take those for the help text.
#[derive(Debug, clap::Args)]
pub(super) struct KeyArgs {
    // The schedule's or window's id or name.
    pub(super) key: String,
    // -o table|wide|json|yaml and --json.
    #[command(flatten)]
    pub(super) output: OutputArgs,
}

/// Where the daemon is and how to authenticate: `--url`, `--token`,
/// `--token-file`, `--context` and the config file to fall back on.
#[derive(Clone, Default, clap::Args)]
pub(super) struct DaemonArgs {
    /// The daemon's admin API, such as http://127.0.0.1:7420 (no scheme means
    /// http://). Default: the context's url, else `http://` + `http.listen`
    /// of the config.
    #[arg(long, env = "MACHINIST_URL", global = true, value_name = "URL")]
    pub url: Option<String>,
    /// The admin token. Visible to other users in `ps` and kept in shell
    /// history: prefer --token-file or $MACHINIST_ADMIN_TOKEN.
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
    /// A file holding the admin token (surrounding whitespace is ignored).
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// A named daemon (url and token_file) from the client config,
    /// ~/.config/machinist/client.toml or $MACHINIST_CLIENT_CONFIG; see
    /// `machinist contexts`. Default: its current_context.
    #[arg(long, env = "MACHINIST_CONTEXT", global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The top-level `--config`, handed over by the caller.
    #[arg(skip)]
    pub config: Option<PathBuf>,
}

// By hand, so a `--token` never reaches a debug print.
impl std::fmt::Debug for DaemonArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaemonArgs")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "****"))
            .field("token_file", &self.token_file)
            .field("context", &self.context)
            .field("config", &self.config)
            .finish()
    }
}

impl DaemonArgs {
    /// The client of the daemon these arguments point at.
    pub(super) fn client(&self) -> anyhow::Result<AdminClient> {
        let config = config_path(self.config.clone());
        resolve(self, config.as_deref())
    }
}

/// The config file: the one handed over (the top-level `--config`), else
/// `$MACHINIST_CONFIG`.
pub(super) fn config_path(handed: Option<PathBuf>) -> Option<PathBuf> {
    handed.or_else(|| {
        std::env::var_os("MACHINIST_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// Runs a command, printing its error as one line `error: …` (a server
/// error reads `error: <message> (field: <field>)`; one that names several
/// fields at once, one such line per field) and exiting 1.
pub(super) async fn report_errors(
    command: impl Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    match command.await {
        Ok(code) => Ok(code),
        Err(e) => {
            // A refusal naming several fields at once: one line each.
            if let Some(super::admin_client::AdminError::Api { field, message, .. }) =
                e.downcast_ref()
                && let Some(field) = field
                && field.contains(',')
            {
                let joined = crate::job::SpecError::new(field, message);
                for part in joined.parts() {
                    eprintln!(
                        "error: {}",
                        escape(&format!("{} (field: {})", part.message, part.field))
                    );
                }
                return Ok(ExitCode::FAILURE);
            }
            eprintln!("error: {}", escape(&format!("{e:#}")));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A usage error found after parsing (flags that clap lets through but
/// that do not go together): printed as clap prints one, exit 2.
pub(super) fn usage(message: &str) -> ExitCode {
    eprintln!("error: {}", escape(message));
    ExitCode::from(2)
}

/// The client: the URL and the token each from the first source that has
/// one (see the module doc for the order).
fn resolve(args: &DaemonArgs, config_path: Option<&Path>) -> anyhow::Result<AdminClient> {
    let env = Env::process();
    let contexts = super::contexts::load()?;
    let context = contexts.pick(args.context.as_deref())?;
    let mut config: Option<Config> = None;
    let mut load_config = || -> anyhow::Result<Config> {
        if let Some(c) = &config {
            return Ok(c.clone());
        }
        let loaded = Config::load(config_path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read the configuration (for the daemon's address and admin token): {e}"
            )
        })?;
        config = Some(loaded.clone());
        Ok(loaded)
    };
    let url = match (args.url.as_deref().filter(|u| !u.is_empty()), context) {
        (Some(url), _) => url.to_string(),
        (None, Some((_, context))) => context.url.clone(),
        (None, None) => format!("http://{}", connectable(load_config()?.http.listen)),
    };
    let token = if let Some(text) = &args.token {
        Some(AdminToken::new(text.as_str()).map_err(|e| anyhow::anyhow!("--token: {e}"))?)
    } else if let Some(path) = &args.token_file {
        Some(token_file(path, "--token-file")?)
    } else if let Some(text) = env.get(TOKEN_VAR).filter(|t| !t.is_empty()) {
        Some(AdminToken::new(text).map_err(|e| anyhow::anyhow!("{TOKEN_VAR}: {e}"))?)
    } else if let Some((name, ctx)) = context
        && let Some(path) = &ctx.token_file
    {
        Some(token_file(
            path,
            &format!("token_file of context `{name}`"),
        )?)
    } else {
        token_from_config(&load_config()?, &env)?
    };
    Ok(AdminClient::new(&url, token)?)
}

/// Reads a token file; the error names the file and where it was given,
/// never the contents.
fn token_file(path: &Path, given_by: &str) -> anyhow::Result<AdminToken> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the admin token file {} ({given_by}): {e}",
            path.display()
        )
    })?;
    AdminToken::new(text).map_err(|e| {
        anyhow::anyhow!(
            "the admin token file {} ({given_by}) cannot be used: {e}",
            path.display()
        )
    })
}

/// The token from where the daemon reads it (the configured file, else the
/// systemd credential), resolving only the token: an unreadable Paperspace
/// key file is not this command's concern.
fn token_from_config(config: &Config, env: &Env) -> anyhow::Result<Option<AdminToken>> {
    let mut only_token = config.clone();
    only_token.paperspace.api_key_file = PathBuf::new();
    let env: Env = env
        .iter()
        .filter(|(k, _)| *k != "PAPERSPACE_API_KEY")
        .collect();
    match only_token.secrets(&env) {
        Ok(secrets) => Ok(secrets.admin_token),
        // Say so and stop, rather than send no token and get a bare 401.
        Err(errors) => bail!("cannot read the admin token: {errors}"),
    }
}

/// A listen address made connectable: `0.0.0.0` and `[::]` mean "this host".
pub(super) fn connectable(listen: SocketAddr) -> SocketAddr {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

/// Builds a job's `args` from `--args JSON` and `--arg k=v` pairs.
pub(super) fn build_args(json: Option<&str>, pairs: &[String]) -> anyhow::Result<Value> {
    let mut object = match json {
        None => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text)
            .with_context(|| "--args is not valid JSON".to_string())?
        {
            Value::Object(map) => map,
            _ => bail!("--args must be a JSON object, such as '{{\"month\":\"2026-03\"}}'"),
        },
    };
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("--arg `{pair}` is not KEY=VALUE");
        };
        if key.is_empty() {
            bail!("--arg `{pair}` has no key");
        }
        let value = serde_json::from_str::<Value>(value)
            .unwrap_or_else(|_| Value::String(value.to_string()));
        object.insert(key.to_string(), value);
    }
    Ok(if object.is_empty() && json.is_none() {
        Value::Null
    } else {
        Value::Object(object)
    })
}

// ---- output ----

/// `2026-03-02T09:00:00Z`.
pub(super) fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `2026-03-02 10:00 CET` in `zone` (an IANA name), or UTC if it is unknown.
pub(super) fn local_time(at: DateTime<Utc>, zone: &str) -> String {
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => at
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => time(at),
    }
}

/// JSON with sorted keys, on one line.
pub(super) fn compact(value: &Value) -> String {
    // Sorted keys read better and print the same every time.
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut cut: String = s.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// A table with aligned columns; the last column is not padded. Cells are
/// escaped ([`escape`]): they hold what the daemon sent.
pub(super) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    print!("{}", table(header, rows));
}

/// [`print_table`]'s text, each line ending in a newline.
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    state_table(header, rows, None)
}

/// [`table`] with the cells of one column (the state's) coloured as
/// `style` colours states; the colour goes round the cell and the padding
/// after it, so it takes no width.
pub(super) fn state_table(
    header: &[&str],
    rows: &[Vec<String>],
    state_column: Option<(usize, Style)>,
) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| escape(cell)).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: &[String], paint: Option<(usize, Style)>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let cell = match paint {
                Some((column, style)) if column == i => style.state(cell),
                _ => cell.clone(),
            };
            if i + 1 == cells.len() {
                out.push_str(&cell);
            } else {
                let pad = w.saturating_sub(cells[i].chars().count());
                out.push_str(&cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        text.push_str(out.trim_end());
        text.push('\n');
    };
    line(
        &header.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        None,
    );
    for row in rows {
        line(row, state_column);
    }
    text
}

/// `key  value` lines with the values aligned, escaped ([`escape`]).
pub(super) fn print_fields(fields: &[(&str, String)]) {
    print!("{}", field_lines(fields));
}

/// [`print_fields`]'s text, each line ending in a newline.
pub(super) fn field_lines(fields: &[(&str, String)]) -> String {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    fields
        .iter()
        .map(|(key, value)| format!("{key:<width$}  {}\n", escape(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args_from_pairs_and_json() {
        let pairs = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(build_args(None, &[]).unwrap(), Value::Null);
        assert_eq!(
            build_args(
                None,
                &pairs(&["disk_size_gb=100", "name=train", "enable=true", "id=\"7\""])
            )
            .unwrap(),
            json!({"disk_size_gb": 100, "name": "train", "enable": true, "id": "7"})
        );
        assert_eq!(
            build_args(
                Some(r#"{"month":"2026-02","x":1}"#),
                &pairs(&["month=2026-03"])
            )
            .unwrap(),
            json!({"month": "2026-03", "x": 1})
        );
        assert!(build_args(Some("[1]"), &[]).is_err());
        assert!(build_args(None, &pairs(&["novalue"])).is_err());
        assert!(build_args(None, &pairs(&["=x"])).is_err());
    }

    #[test]
    fn unspecified_listen_becomes_loopback() {
        assert_eq!(
            connectable("0.0.0.0:7420".parse().unwrap()).to_string(),
            "127.0.0.1:7420"
        );
        assert_eq!(
            connectable("[::]:7420".parse().unwrap()).to_string(),
            "[::1]:7420"
        );
        assert_eq!(
            connectable("10.0.0.5:80".parse().unwrap()).to_string(),
            "10.0.0.5:80"
        );
    }

    #[test]
    fn local_times_name_the_zone() {
        let at: DateTime<Utc> = "2026-01-05T08:00:00Z".parse().unwrap();
        assert_eq!(local_time(at, "Europe/Amsterdam"), "2026-01-05 09:00 CET");
        assert_eq!(local_time(at, "Nowhere/Else"), "2026-01-05T08:00:00Z");
    }
}
