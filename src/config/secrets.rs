//! The secrets: the Paperspace API key and the admin token, read from a file,
//! the environment or a systemd credential, and never printed.

use std::fmt;
use std::io;
use std::path::Path;

use subtle::ConstantTimeEq;

use super::Config;
use super::error::{ConfigError, ConfigErrors, Origin};
use super::sources::Env;
use crate::paperspace::ApiKey;
use crate::paperspace::BadApiKey;
use crate::webhook::{EndpointSpec, Format, Secret};

/// The variable that may hold the Paperspace API key.
const API_KEY_VAR: &str = "PAPERSPACE_API_KEY";
/// The variable that may hold the admin token.
const ADMIN_TOKEN_VAR: &str = "MACHINIST_ADMIN_TOKEN";
const VIEWER_TOKEN_VAR: &str = "MACHINIST_VIEWER_TOKEN";
/// An admin token shorter than this gets a warning.
const SHORT_TOKEN: usize = 16;

/// The secrets the daemon runs with.
///
/// Its `Debug` shows whether each is set, never its value.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// The Paperspace API key; needed by the `legacy` and `v1` backends.
    pub api_key: Option<ApiKey>,
    /// The bearer token of the admin API; needed to listen beyond loopback.
    pub admin_token: Option<AdminToken>,
    /// The read-only bearer token of the admin API: `GET` routes only.
    pub viewer_token: Option<AdminToken>,
    /// The endpoints of `[[webhooks.endpoints]]` with their secrets.
    pub webhook_endpoints: Vec<(EndpointSpec, Secret)>,
    /// Things the caller should log, such as a key file readable by others.
    /// They name files and variables, never a secret.
    pub warnings: Vec<String>,
}

/// The admin API's bearer token.
///
/// No `Display`, a masked `Debug`, no `PartialEq` (which would not be
/// constant-time): compare a presented token with [`AdminToken::matches`].
#[derive(Clone)]
pub struct AdminToken(String);

/// A token that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadAdminToken {
    #[error("the admin token is empty")]
    Empty,
    #[error(
        "the admin token contains characters that cannot go in an HTTP header (a space or control character?)"
    )]
    NotHeaderSafe,
}

impl AdminToken {
    /// Checks and wraps a token; surrounding whitespace (a file's trailing
    /// newline) is trimmed, since HTTP trims it from a header value too.
    pub fn new(token: impl Into<String>) -> Result<Self, BadAdminToken> {
        let token = token.into();
        let trimmed = token.trim();
        if trimmed.is_empty() {
            return Err(BadAdminToken::Empty);
        }
        if !trimmed.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(BadAdminToken::NotHeaderSafe);
        }
        Ok(AdminToken(trimmed.to_string()))
    }

    /// The token itself; for a client that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` (the presented bearer token) is this token.
    ///
    /// The time taken depends only on the lengths, never on where the
    /// bytes differ: the comparison of contents is constant-time, and an
    /// unequal length answers at once (revealing the length only).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(****)")
    }
}

/// Where one secret may come from.
struct Spec<'a> {
    /// For messages: "Paperspace API key".
    what: &'a str,
    /// The setting naming its file.
    file_key: &'a str,
    /// That file, if one is configured; it then wins over the variable.
    file: Option<&'a Path>,
    /// The environment variable read when no file is configured.
    var: &'a str,
    /// Its name in `$CREDENTIALS_DIRECTORY`.
    credential: &'a str,
}

/// What reading all secrets gave, including which failed.
struct Resolved {
    /// The secrets that could be read.
    secrets: Secrets,
    /// Why the others could not.
    errors: ConfigErrors,
    /// The API key's source failed, so "the backend needs an API key" would
    /// only repeat that error.
    api_key_failed: bool,
    /// The same for the admin token and "the listen address needs a token".
    admin_token_failed: bool,
}

/// A viewer token's problems for `serve`: one without an admin token (every
/// request could act, so it would limit nothing), or one equal to it (it
/// would act as the admin token does).
fn check_viewer(config: &Config, secrets: &Secrets, errors: &mut ConfigErrors) {
    let Some(viewer) = &secrets.viewer_token else {
        return;
    };
    let problem = match &secrets.admin_token {
        None => "a viewer token limits nothing without an admin token: set http.admin_token_file, \
                 MACHINIST_ADMIN_TOKEN or the systemd credential `admin-token` too"
            .to_string(),
        Some(admin) if admin.matches(viewer.0.as_bytes()) => {
            "the viewer token is the admin token: give the viewer a token of its own".to_string()
        }
        Some(_) => return,
    };
    errors.push(ConfigError::new(
        config.origin("http.viewer_token_file"),
        Some("http.viewer_token_file"),
        problem,
    ));
}

pub(super) fn resolve(config: &Config, env: &Env) -> Result<Secrets, ConfigErrors> {
    let r = resolve_all(config, env);
    r.errors.into_result(r.secrets)
}

pub(super) fn resolve_for_serve(config: &Config, env: &Env) -> Result<Secrets, ConfigErrors> {
    let mut r = resolve_all(config, env);
    for error in check_for_serve(config, &r.secrets) {
        let already = match error.key.as_deref() {
            Some("paperspace.backend") => r.api_key_failed,
            Some("http.listen") => r.admin_token_failed,
            _ => false,
        };
        if !already {
            r.errors.push(error);
        }
    }
    r.errors.into_result(r.secrets)
}

pub(super) fn check_for_serve(config: &Config, secrets: &Secrets) -> ConfigErrors {
    let mut errors = ConfigErrors::default();
    let backend = config.paperspace.backend;
    if backend.needs_api_key() && secrets.api_key.is_none() {
        errors.push(ConfigError::new(
            config.origin("paperspace.backend"),
            Some("paperspace.backend"),
            format!(
                "the {backend} backend needs an API key: set paperspace.api_key_file, \
                 {API_KEY_VAR} or the systemd credential `paperspace-api-key`"
            ),
        ));
    }
    let listen = config.http.listen;
    if !listen.ip().is_loopback() && secrets.admin_token.is_none() {
        errors.push(ConfigError::new(
            config.origin("http.listen"),
            Some("http.listen"),
            format!(
                "{listen} is not a loopback address, so the admin API needs a token: \
                 set http.admin_token_file, {ADMIN_TOKEN_VAR} or the systemd credential `admin-token`"
            ),
        ));
    }
    check_viewer(config, secrets, &mut errors);
    errors
}

fn resolve_all(config: &Config, env: &Env) -> Resolved {
    let mut errors = ConfigErrors::default();
    let mut warnings = Vec::new();

    let api_key_spec = Spec {
        what: "Paperspace API key",
        file_key: "paperspace.api_key_file",
        file: config.paperspace.api_key_file(),
        var: API_KEY_VAR,
        credential: "paperspace-api-key",
    };
    let before = errors.len();
    let api_key =
        find(&api_key_spec, env, &mut warnings, &mut errors).and_then(|(text, origin)| {
            ApiKey::new(text)
                .map_err(|e| {
                    let why = match e {
                        BadApiKey::Empty => "is empty",
                        BadApiKey::NotHeaderSafe => NOT_HEADER_SAFE,
                    };
                    errors.push(secret_error(origin, &api_key_spec, why));
                })
                .ok()
        });
    let api_key_failed = errors.len() > before;

    let token_spec = Spec {
        what: "admin token",
        file_key: "http.admin_token_file",
        file: config.http.admin_token_file(),
        var: ADMIN_TOKEN_VAR,
        credential: "admin-token",
    };
    let before = errors.len();
    let admin_token =
        find(&token_spec, env, &mut warnings, &mut errors).and_then(|(text, origin)| {
            match AdminToken::new(text) {
                Ok(token) => {
                    if token.0.len() < SHORT_TOKEN {
                        warnings.push(format!(
                        "the admin token from {origin} is shorter than {SHORT_TOKEN} characters; \
                         use a long random one (e.g. `openssl rand -hex 32`)"
                    ));
                    }
                    Some(token)
                }
                Err(e) => {
                    let why = match e {
                        BadAdminToken::Empty => "is empty",
                        BadAdminToken::NotHeaderSafe => NOT_HEADER_SAFE,
                    };
                    errors.push(secret_error(origin, &token_spec, why));
                    None
                }
            }
        });
    let admin_token_failed = errors.len() > before;

    let viewer_spec = Spec {
        what: "viewer token",
        file_key: "http.viewer_token_file",
        file: config.http.viewer_token_file(),
        var: VIEWER_TOKEN_VAR,
        credential: "viewer-token",
    };
    let viewer_token =
        find(&viewer_spec, env, &mut warnings, &mut errors).and_then(|(text, origin)| {
            AdminToken::new(text)
                .map_err(|e| {
                    let why = match e {
                        BadAdminToken::Empty => "is empty",
                        BadAdminToken::NotHeaderSafe => NOT_HEADER_SAFE,
                    };
                    errors.push(secret_error(origin, &viewer_spec, why));
                })
                .ok()
        });
    let webhook_endpoints = webhook_secrets(config, env, &mut warnings, &mut errors);

    Resolved {
        secrets: Secrets {
            api_key,
            admin_token,
            viewer_token,
            webhook_endpoints,
            warnings,
        },
        errors,
        api_key_failed,
        admin_token_failed,
    }
}

/// The secret of each configured webhook endpoint: its `secret_file`, else
/// `MACHINIST_WEBHOOK_SECRET_<NAME>`, else the credential `webhook-NAME`. A
/// `slack` endpoint without one gets a generated secret (Slack does not
/// verify); a `standard` one without one is an error, since its receiver
/// could verify nothing.
fn webhook_secrets(
    config: &Config,
    env: &Env,
    warnings: &mut Vec<String>,
    errors: &mut ConfigErrors,
) -> Vec<(EndpointSpec, Secret)> {
    let mut out = Vec::new();
    for endpoint in &config.webhooks.endpoints {
        let what = format!("webhook `{}` secret", crate::text::escape(&endpoint.name));
        let var = format!(
            "MACHINIST_WEBHOOK_SECRET_{}",
            endpoint.name.to_ascii_uppercase().replace(['-', '.'], "_")
        );
        let credential = format!("webhook-{}", endpoint.name);
        let spec = Spec {
            what: &what,
            file_key: "webhooks.endpoints",
            file: endpoint.secret_file.as_deref(),
            var: &var,
            credential: &credential,
        };
        let before = errors.len();
        let secret = match find(&spec, env, warnings, errors) {
            Some((text, origin)) => match Secret::parse(&text) {
                Ok(secret) => Some(secret),
                Err(e) => {
                    errors.push(secret_error(origin, &spec, &format!("is not usable: {e}")));
                    None
                }
            },
            // The source named could not be read: that error says it all.
            None if errors.len() > before => None,
            None if endpoint.format == Format::Slack => Some(Secret::generate()),
            None => {
                errors.push(ConfigError::new(
                    config.origin("webhooks.endpoints"),
                    Some("webhooks.endpoints"),
                    format!(
                        "{what} is not set: set secret_file, {var} or the systemd credential `{credential}` (make one with `echo whsec_$(openssl rand -base64 32)`)"
                    ),
                ));
                None
            }
        };
        if let Some(secret) = secret {
            out.push((endpoint.spec(), secret));
        }
    }
    out
}

const NOT_HEADER_SAFE: &str =
    "contains characters that cannot go in an HTTP header (a space or control character?)";

/// An error about a secret, naming where it came from, never its content.
fn secret_error(origin: Origin, spec: &Spec<'_>, why: &str) -> ConfigError {
    let key = matches!(origin, Origin::File { .. } if spec.file.is_some()).then_some(spec.file_key);
    ConfigError::new(origin, key, format!("the {} {why}", spec.what))
}

/// The secret's text and where it came from: the configured file, else the
/// variable, else the systemd credential; `None` if none is there.
fn find(
    spec: &Spec<'_>,
    env: &Env,
    warnings: &mut Vec<String>,
    errors: &mut ConfigErrors,
) -> Option<(String, Origin)> {
    if let Some(path) = spec.file {
        if env.get_non_empty(spec.var).is_some() {
            warnings.push(format!(
                "{} is set but not used: {} takes precedence",
                spec.var, spec.file_key
            ));
        }
        return read_secret_file(path, spec, warnings, errors);
    }
    if let Some(value) = env.get_non_empty(spec.var) {
        return Some((value.to_string(), Origin::env(spec.var)));
    }
    let dir = env.get_non_empty("CREDENTIALS_DIRECTORY")?;
    let path = Path::new(dir).join(spec.credential);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        _ => read_secret_file(&path, spec, warnings, errors),
    }
}

/// Reads a key or token file. Errors name the file, never what is in it.
fn read_secret_file(
    path: &Path,
    spec: &Spec<'_>,
    warnings: &mut Vec<String>,
    errors: &mut ConfigErrors,
) -> Option<(String, Origin)> {
    let origin = Origin::file(path);
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            let why = match e.kind() {
                io::ErrorKind::NotFound => "no such file".to_string(),
                _ => e.to_string(),
            };
            let message = format!("cannot read the {} file: {why}", spec.what);
            let key = spec.file.is_some().then_some(spec.file_key);
            errors.push(ConfigError::new(origin, key, message));
            return None;
        }
    };
    warn_if_readable_by_others(path, spec, warnings);
    let Ok(mut text) = String::from_utf8(bytes) else {
        errors.push(secret_error(origin, spec, "file is not UTF-8 text"));
        return None;
    };
    while text.ends_with('\n') || text.ends_with('\r') {
        text.pop();
    }
    if text.trim().is_empty() {
        errors.push(secret_error(origin, spec, "file is empty"));
        return None;
    }
    Some((text, origin))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path, spec: &Spec<'_>, warnings: &mut Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o044 != 0 {
            warnings.push(format!(
                "the {} file {} is readable by group or others (mode {mode:04o}); make it 0600",
                spec.what,
                path.display()
            ));
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path, _: &Spec<'_>, _: &mut Vec<String>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_is_masked_and_trimmed() {
        let token = AdminToken::new("s3cret-token-value\n").unwrap();
        assert_eq!(token.expose(), "s3cret-token-value");
        assert_eq!(format!("{token:?}"), "AdminToken(****)");
        assert!(!format!("{:?}", Some(token.clone())).contains("s3cret"));
    }

    #[test]
    fn admin_token_rejects_empty_and_unsafe() {
        assert_eq!(AdminToken::new(" \n").unwrap_err(), BadAdminToken::Empty);
        assert_eq!(
            AdminToken::new("a b").unwrap_err(),
            BadAdminToken::NotHeaderSafe
        );
        assert_eq!(
            AdminToken::new("a\u{7f}").unwrap_err(),
            BadAdminToken::NotHeaderSafe
        );
    }

    #[test]
    fn matches_only_the_exact_token() {
        let token = AdminToken::new("abcdef0123456789").unwrap();
        assert!(token.matches(b"abcdef0123456789"));
        assert!(!token.matches(b"abcdef0123456788"));
        assert!(!token.matches(b"abcdef012345678"));
        assert!(!token.matches(b"abcdef01234567890"));
        assert!(!token.matches(b""));
    }
}
