//! The configuration: layering, validation, secrets and printing.
//!
//! Every test injects its file and environment through `Sources`, so none
//! depends on the real process environment or on /etc.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use machinist::config::{
    AdminToken, BackendChoice as Backend, Config, ConfigErrors, Env, LogFormat, Origin, Secrets,
    Sources,
};
use machinist::machine::WaitTarget;
use machinist::paperspace::ApiKey;
use machinist::store::Durability as Synchronous;
use tempfile::TempDir;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/machinist.example.toml");

/// A fresh directory whose default config path does not exist.
fn dir() -> TempDir {
    tempfile::tempdir().unwrap()
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn sources(dir: &TempDir, file: Option<&Path>, env: Env) -> Sources {
    Sources {
        file: file.map(Path::to_path_buf),
        default_path: dir.path().join("etc-machinist.toml"),
        env,
    }
}

/// Loads `text` as the config file with `env`.
fn load_text(text: &str, env: Env) -> (TempDir, PathBuf, Result<Config, ConfigErrors>) {
    let dir = dir();
    let path = write(&dir, "machinist.toml", text);
    let result = Config::load_from(sources(&dir, Some(&path), env));
    (dir, path, result)
}

fn lines(errors: &ConfigErrors) -> Vec<String> {
    errors.to_string().lines().map(str::to_string).collect()
}

fn defaults() -> Config {
    let dir = dir();
    Config::load_from(sources(&dir, None, Env::empty())).unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn defaults_with_no_file() {
    let config = defaults();
    assert_eq!(config.file(), None);

    let p = &config.paperspace;
    assert_eq!(p.backend, Backend::Auto);
    assert_eq!(p.base_url, "");
    assert_eq!(p.base_url(), None);
    assert_eq!(p.api_key_file(), None);
    assert_eq!(p.request_timeout, secs(30));
    assert_eq!(p.sim_transition, secs(3));

    assert_eq!(config.store.path, PathBuf::from("./machinist.db"));
    assert_eq!(config.store.synchronous, Synchronous::Full);
    assert_eq!(config.store.busy_timeout, secs(5));

    let w = &config.workers;
    assert_eq!((w.count, w.prefetch, w.max_attempts), (8, 8, 5));
    assert_eq!(
        (w.lease, w.backoff_base, w.backoff_max),
        (secs(30), secs(1), secs(300))
    );
    assert_eq!(w.poll_interval, secs(5));

    assert_eq!(config.wait.timeout_for(WaitTarget::Ready), secs(15 * 60));
    assert_eq!(
        config.wait.timeout_for(WaitTarget::ServiceReady),
        secs(15 * 60)
    );
    assert_eq!(config.wait.timeout_for(WaitTarget::Off), secs(10 * 60));
    assert_eq!(config.wait.timeout_for(WaitTarget::Gone), secs(10 * 60));

    assert_eq!(config.rate_limit.per_second, 5.0);
    assert_eq!(config.rate_limit.burst, 10);

    assert_eq!(
        config.http.listen,
        "127.0.0.1:7420".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.http.admin_token_file(), None);
    assert_eq!(config.http.request_timeout, secs(30));
    assert_eq!(config.http.max_body_bytes, 65536);

    assert_eq!(config.retention.finished_jobs, secs(30 * 24 * 3600));
    assert_eq!(config.log.level, "info");
    assert_eq!(config.log.format, LogFormat::Text);

    // The built-in defaults differ only in what loading derives.
    let mut built_in = Config::default();
    built_in.store.path = PathBuf::from("./machinist.db");
    assert_eq!(config, built_in);
    assert_eq!(config.origin("workers.count"), Origin::Default);
    built_in.validate().unwrap();
}

#[test]
fn an_empty_file_gives_the_defaults() {
    let (_dir, path, config) = load_text("", Env::empty());
    let config = config.unwrap();
    assert_eq!(config, defaults());
    assert_eq!(config.file(), Some(path.as_path()));
}

#[test]
fn the_example_file_gives_exactly_the_defaults() {
    let dir = dir();
    let config = Config::load_from(sources(&dir, Some(Path::new(EXAMPLE)), Env::empty())).unwrap();
    assert_eq!(config, defaults());
}

#[test]
fn the_example_file_sets_every_key() {
    let example: toml::Table = toml::from_str(&std::fs::read_to_string(EXAMPLE).unwrap()).unwrap();
    let all = toml::Table::try_from(Config::default()).unwrap();
    let keys = |t: &toml::Table| -> Vec<String> {
        t.iter()
            .flat_map(|(s, v)| {
                v.as_table()
                    .unwrap()
                    .keys()
                    .map(move |k| format!("{s}.{k}"))
            })
            .collect()
    };
    assert_eq!(
        keys(&example),
        keys(&all),
        "the example lists every key, in order"
    );
}

#[test]
fn the_default_path_is_read_when_it_exists() {
    let dir = dir();
    let src = sources(&dir, None, Env::empty());
    std::fs::write(&src.default_path, "[workers]\ncount = 3\n").unwrap();
    let config = Config::load_from(src.clone()).unwrap();
    assert_eq!(config.workers.count, 3);
    assert_eq!(config.file(), Some(src.default_path.as_path()));
}

#[test]
fn an_explicit_file_must_exist() {
    let dir = dir();
    let missing = dir.path().join("nope.toml");
    let errors = Config::load_from(sources(&dir, Some(&missing), Env::empty())).unwrap_err();
    assert_eq!(
        lines(&errors),
        [format!(
            "{}: cannot read the config file: no such file",
            missing.display()
        )]
    );
}

#[test]
fn a_file_overrides_some_values() {
    let text = r#"
[paperspace]
backend = "legacy"
request_timeout = "1m30s"

[workers]
count = 16
backoff_base = "250ms"

[http]
listen = "[::1]:8080"
max_body_bytes = 1024

[retention]
finished_jobs = "7d"

[log]
format = "json"
level = "machinist=debug,warn"
"#;
    let (_dir, path, config) = load_text(text, Env::empty());
    let config = config.unwrap();
    assert_eq!(config.paperspace.backend, Backend::Legacy);
    // An empty base URL becomes the backend's own.
    assert_eq!(config.paperspace.base_url, "https://api.paperspace.io");
    assert_eq!(config.paperspace.request_timeout, secs(90));
    assert_eq!(config.workers.count, 16);
    assert_eq!(config.workers.backoff_base, Duration::from_millis(250));
    assert_eq!(
        config.http.listen,
        "[::1]:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.http.max_body_bytes, 1024);
    assert_eq!(config.retention.finished_jobs, secs(7 * 24 * 3600));
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.level, "machinist=debug,warn");
    // Untouched keys keep their defaults.
    assert_eq!(config.workers.max_attempts, 5);
    assert_eq!(config.wait, defaults().wait);
    assert_eq!(
        config.origin("workers.count"),
        Origin::File {
            path: path.clone(),
            line: Some(7)
        }
    );
    assert_eq!(config.origin("workers.lease"), Origin::Default);
}

#[test]
fn auto_is_v1_with_an_api_key_and_the_simulator_without() {
    let config = defaults();
    assert_eq!(config.paperspace.backend, Backend::Auto);

    let without = config.secrets(&Env::empty()).unwrap();
    let mut resolved = config.clone();
    resolved.resolve_backend(&without);
    assert_eq!(resolved.paperspace.backend, Backend::Sim);
    assert_eq!(resolved.paperspace.base_url(), None);

    let with = config
        .secrets(&Env::from([("PAPERSPACE_API_KEY", "abcdef0123456789")]))
        .unwrap();
    let mut resolved = config.clone();
    resolved.resolve_backend(&with);
    assert_eq!(resolved.paperspace.backend, Backend::V1);
    assert_eq!(
        resolved.paperspace.base_url(),
        Some("https://api.paperspace.com/v1")
    );

    // A backend set on purpose is kept, key or not.
    let (_dir, _path, legacy) = load_text("[paperspace]\nbackend = \"sim\"\n", Env::empty());
    let mut legacy = legacy.unwrap();
    legacy.resolve_backend(&with);
    assert_eq!(legacy.paperspace.backend, Backend::Sim);
}

#[test]
fn the_v1_backend_is_accepted_with_its_own_url() {
    let (_dir, _path, config) = load_text("[paperspace]\nbackend = \"v1\"\n", Env::empty());
    let config = config.unwrap();
    assert_eq!(config.paperspace.backend, Backend::V1);
    assert_eq!(
        config.paperspace.base_url(),
        Some("https://api.paperspace.com/v1")
    );

    let text = "[paperspace]\nbackend = \"v1\"\nbase_url = \"http://127.0.0.1:9000/v1\"\n";
    let (_dir, _path, config) = load_text(text, Env::empty());
    assert_eq!(
        config.unwrap().paperspace.base_url(),
        Some("http://127.0.0.1:9000/v1")
    );
}

#[test]
fn the_environment_overrides_the_file() {
    let text = "[workers]\ncount = 4\nmax_attempts = 7\n[store]\npath = \"/from/file.db\"\n";
    let env = Env::from([
        ("MACHINIST_WORKERS_COUNT", "12"),
        ("MACHINIST_HTTP_LISTEN", "0.0.0.0:7420"),
        ("MACHINIST_STORE_PATH", "/x.db"),
        ("MACHINIST_STORE_SYNCHRONOUS", "normal"),
        ("MACHINIST_PAPERSPACE_BACKEND", "legacy"),
        ("MACHINIST_RATE_LIMIT_PER_SECOND", "2.5"),
        ("MACHINIST_RATE_LIMIT_BURST", "3"),
        ("MACHINIST_WAIT_SERVICEREADY", "20m"),
        ("MACHINIST_LOG_FORMAT", "json"),
        // Not settings: left alone.
        ("MACHINIST_ADMIN_TOKEN", "irrelevant-here-0123"),
        ("MACHINIST_URL", "http://localhost:7420"),
        ("PATH", "/usr/bin"),
    ]);
    let (_dir, _path, config) = load_text(text, env);
    let config = config.unwrap();
    assert_eq!(config.workers.count, 12);
    assert_eq!(
        config.workers.max_attempts, 7,
        "the file still applies where env is silent"
    );
    assert_eq!(
        config.http.listen,
        "0.0.0.0:7420".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.store.path, PathBuf::from("/x.db"));
    assert_eq!(config.store.synchronous, Synchronous::Normal);
    assert_eq!(config.paperspace.backend, Backend::Legacy);
    assert_eq!(config.rate_limit.per_second, 2.5);
    assert_eq!(config.rate_limit.burst, 3);
    assert_eq!(config.wait.serviceready, secs(20 * 60));
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(
        config.origin("workers.count"),
        Origin::env("MACHINIST_WORKERS_COUNT")
    );
}

#[test]
fn the_store_path_defaults_into_the_state_directory() {
    let dir = dir();
    let env = Env::empty().with("STATE_DIRECTORY", "/var/lib/machinist");
    let config = Config::load_from(sources(&dir, None, env.clone())).unwrap();
    assert_eq!(
        config.store.path,
        PathBuf::from("/var/lib/machinist/machinist.db")
    );
    assert_eq!(config.origin("store.path"), Origin::env("STATE_DIRECTORY"));

    let env = env.with("MACHINIST_STORE_PATH", "/elsewhere.db");
    let config = Config::load_from(sources(&dir, None, env)).unwrap();
    assert_eq!(config.store.path, PathBuf::from("/elsewhere.db"));
}

#[test]
fn every_range_error_is_reported_at_once() {
    let text = r#"
[paperspace]
request_timeout = "0s"
base_url = "ftp://example.com"

[store]
busy_timeout = "0s"

[workers]
count = 0
max_attempts = 101
lease = "500ms"
backoff_base = "10m"
backoff_max = "1m"
poll_interval = "0s"
prefetch = 2000

[wait]
ready = "0s"
gone = "3651d"

[rate_limit]
per_second = 0.0
burst = 0

[http]
request_timeout = "0s"
max_body_bytes = 100

[retention]
finished_jobs = "0s"

[log]
level = "[nope"
"#;
    let (_dir, path, result) = load_text(text, Env::empty());
    let errors = result.unwrap_err();
    let p = path.display();
    let expected = [
        format!("{p}:4: paperspace.base_url: must be an http:// or https:// URL"),
        format!("{p}:3: paperspace.request_timeout: must be more than 0s"),
        format!("{p}:7: store.busy_timeout: must be more than 0s"),
        format!("{p}:10: workers.count: must be between 1 and 256 (got 0)"),
        format!("{p}:16: workers.prefetch: must be between 0 and 1024 (got 2000)"),
        format!("{p}:11: workers.max_attempts: must be between 1 and 100 (got 101)"),
        format!("{p}:12: workers.lease: must be at least 1s (got 500ms)"),
        format!(
            "{p}:14: workers.backoff_max: must be at least workers.backoff_base (backoff_base is 10m, backoff_max is 1m)"
        ),
        format!("{p}:15: workers.poll_interval: must be more than 0s"),
        format!("{p}:19: wait.ready: must be more than 0s"),
        format!("{p}:20: wait.gone: must be at most 3650d (got 3651d)"),
        format!("{p}:23: rate_limit.per_second: must be more than 0 and at most 1000 (got 0)"),
        format!("{p}:24: rate_limit.burst: must be at least 1 (got 0)"),
        format!("{p}:27: http.request_timeout: must be more than 0s"),
        format!("{p}:28: http.max_body_bytes: must be between 1024 and 16777216 (got 100)"),
        format!("{p}:31: retention.finished_jobs: must be more than 0s"),
    ];
    let got = lines(&errors);
    assert_eq!(got[..expected.len()], expected, "{errors}");
    assert_eq!(errors.len(), expected.len() + 1, "{errors}");
    assert!(got[expected.len()].starts_with(&format!("{p}:34: log.level: not a tracing filter")));
}

#[test]
fn type_errors_and_range_errors_come_together() {
    let text = "[workers]\ncount = -1\nlease = \"30 parsecs\"\nmax_attempts = 0\n";
    let (_dir, path, result) = load_text(text, Env::empty());
    let errors = result.unwrap_err();
    let p = path.display();
    let got = lines(&errors);
    assert_eq!(errors.len(), 3, "{errors}");
    assert!(
        got[0].starts_with(&format!("{p}:2: workers.count: ")),
        "{errors}"
    );
    assert!(got[0].contains("-1"), "{errors}");
    assert!(
        got[1].starts_with(&format!("{p}:3: workers.lease: ")),
        "{errors}"
    );
    assert!(got[1].contains("parsecs"), "{errors}");
    assert_eq!(
        got[2],
        format!("{p}:4: workers.max_attempts: must be between 1 and 100 (got 0)")
    );
    // The rejected keys are not also reported as out of range.
    assert_eq!(
        got.iter().filter(|l| l.contains("workers.count")).count(),
        1
    );
}

#[test]
fn unknown_keys_and_sections_are_errors() {
    let text = "[workers]\ncountt = 3\n\n[worker]\ncount = 3\n\n[log]\nlevel = \"info\"\nextra = { a = 1 }\n";
    let (_dir, path, result) = load_text(text, Env::empty());
    let errors = result.unwrap_err();
    let got = lines(&errors);
    assert_eq!(errors.len(), 3, "{errors}");
    let p = path.display();
    assert!(
        got[0].starts_with(&format!(
            "{p}:2: workers.countt: unknown key; [workers] has count, "
        )),
        "{errors}"
    );
    assert!(
        got[1].starts_with(&format!(
            "{p}:4: worker: unknown section; the sections are paperspace, "
        )),
        "{errors}"
    );
    assert!(
        got[2].starts_with(&format!("{p}:9: log.extra: unknown key")),
        "{errors}"
    );
    assert_eq!(errors.errors()[0].key.as_deref(), Some("workers.countt"));
}

#[test]
fn a_section_must_be_a_table() {
    let (_dir, path, result) = load_text("workers = 3\n", Env::empty());
    assert_eq!(
        lines(&result.unwrap_err()),
        [format!(
            "{}:1: workers: must be a table (`[workers]`)",
            path.display()
        )]
    );
}

#[test]
fn a_secret_in_the_file_is_refused_without_echoing_it() {
    let text = "[paperspace]\napi_key = \"inline-secret-42\"\n[http]\nadmin_token = \"inline-secret-43\"\n";
    let (_dir, path, result) = load_text(text, Env::empty());
    let errors = result.unwrap_err();
    let shown = format!("{errors}\n{errors:?}");
    assert!(!shown.contains("inline-secret"), "{shown}");
    assert_eq!(
        lines(&errors),
        [
            format!(
                "{}:2: paperspace.api_key: secrets do not go in the configuration; set paperspace.api_key_file, PAPERSPACE_API_KEY or the systemd credential `paperspace-api-key`",
                path.display()
            ),
            format!(
                "{}:4: http.admin_token: secrets do not go in the configuration; set http.admin_token_file, MACHINIST_ADMIN_TOKEN or the systemd credential `admin-token`",
                path.display()
            ),
        ]
    );
}

#[test]
fn a_toml_syntax_error_names_file_and_line() {
    let (_dir, path, result) = load_text("[workers]\ncount = 4\nlease = = \"30s\"\n", Env::empty());
    let errors = result.unwrap_err();
    assert_eq!(errors.len(), 1);
    let error = &errors.errors()[0];
    assert_eq!(
        error.origin,
        Origin::File {
            path: path.clone(),
            line: Some(3)
        }
    );
    assert_eq!(error.key, None);
    assert!(
        errors
            .to_string()
            .starts_with(&format!("{}:3: invalid TOML: ", path.display())),
        "{errors}"
    );
}

#[test]
fn a_duplicate_key_is_a_syntax_error() {
    let (_dir, path, result) = load_text("[workers]\ncount = 4\ncount = 5\n", Env::empty());
    let errors = result.unwrap_err();
    assert!(
        errors
            .to_string()
            .starts_with(&format!("{}:3: invalid TOML", path.display())),
        "{errors}"
    );
}

#[test]
fn bad_durations_are_errors() {
    let text = "[workers]\nlease = \"30 parsecs\"\nbackoff_max = 30\n[wait]\noff = \"\"\n";
    let (_dir, path, result) = load_text(text, Env::empty());
    let errors = result.unwrap_err();
    let got = lines(&errors);
    let p = path.display();
    assert_eq!(errors.len(), 3, "{errors}");
    assert_eq!(
        got[0],
        format!(
            "{p}:2: workers.lease: `30 parsecs` is not a duration (unknown time unit \"parsecs\", \
             supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)); \
             write e.g. \"30s\", \"5m\" or \"1h30m\""
        )
    );
    assert_eq!(
        got[1],
        format!(
            "{p}:3: workers.backoff_max: invalid type: integer `30`, expected a duration such as \"30s\", \"5m\" or \"1h30m\""
        )
    );
    assert_eq!(
        got[2],
        format!(
            "{p}:5: wait.off: `` is not a duration (value was empty); write e.g. \"30s\", \"5m\" or \"1h30m\""
        )
    );
}

#[test]
fn human_durations_parse() {
    let text = "[workers]\nlease = \"1h30m\"\nbackoff_base = \"250ms\"\n[retention]\nfinished_jobs = \"30d\"\n";
    let (_dir, _path, config) = load_text(text, Env::empty());
    let config = config.unwrap();
    assert_eq!(config.workers.lease, secs(5400));
    assert_eq!(config.workers.backoff_base, Duration::from_millis(250));
    assert_eq!(config.retention.finished_jobs, secs(30 * 86400));
}

#[test]
fn bad_environment_values_name_the_variable() {
    let env = Env::from([
        ("MACHINIST_WORKERS_COUNT", "four"),
        ("MACHINIST_HTTP_LISTEN", "localhost"),
        ("MACHINIST_PAPERSPACE_BACKEND", "prod"),
        ("MACHINIST_WORKERS_LEASE", "soon"),
        ("MACHINIST_WORKERS_CONUT", "4"),
        ("MACHINIST_RATE_LIMIT_PER_SECOND", "0"),
    ]);
    let dir = dir();
    let errors = Config::load_from(sources(&dir, None, env)).unwrap_err();
    let got = lines(&errors);
    assert_eq!(errors.len(), 6, "{errors}");
    // In variable-name order, then the range checks.
    assert!(
        got[0].starts_with("env MACHINIST_HTTP_LISTEN: http.listen: "),
        "{errors}"
    );
    assert!(
        got[1].starts_with(
            "env MACHINIST_PAPERSPACE_BACKEND: paperspace.backend: unknown variant `prod`"
        ),
        "{errors}"
    );
    assert_eq!(
        got[2],
        "env MACHINIST_WORKERS_CONUT: workers.conut: unknown key; [workers] has count, prefetch, max_attempts, lease, backoff_base, backoff_max, poll_interval"
    );
    assert_eq!(
        got[3],
        "env MACHINIST_WORKERS_COUNT: workers.count: `four` is not a whole number"
    );
    assert!(
        got[4].starts_with("env MACHINIST_WORKERS_LEASE: workers.lease: "),
        "{errors}"
    );
    assert_eq!(
        got[5],
        "env MACHINIST_RATE_LIMIT_PER_SECOND: rate_limit.per_second: must be more than 0 and at most 1000 (got 0)"
    );
    assert_eq!(
        errors.errors()[3].origin,
        Origin::env("MACHINIST_WORKERS_COUNT")
    );
}

#[test]
fn file_and_environment_errors_come_together() {
    let text = "[workers]\ncount = 0\n";
    let env = Env::from([("MACHINIST_WORKERS_MAX_ATTEMPTS", "x")]);
    let (_dir, path, result) = load_text(text, env);
    let errors = result.unwrap_err();
    assert_eq!(
        lines(&errors),
        [
            "env MACHINIST_WORKERS_MAX_ATTEMPTS: workers.max_attempts: `x` is not a whole number"
                .to_string(),
            format!(
                "{}:2: workers.count: must be between 1 and 256 (got 0)",
                path.display()
            ),
        ]
    );
}

// --- secrets --------------------------------------------------------------

/// Writes a secret file with mode 0600.
fn write_secret(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = write(dir, name, text);
    set_mode(&path, 0o600);
    path
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn api_key(secrets: &Secrets) -> Option<&str> {
    secrets.api_key.as_ref().map(ApiKey::expose)
}

fn admin_token(secrets: &Secrets) -> Option<&str> {
    secrets.admin_token.as_ref().map(AdminToken::expose)
}

#[test]
fn no_secrets_anywhere_is_fine_for_the_simulator_on_loopback() {
    let config = defaults();
    let secrets = config.secrets_for_serve(&Env::empty()).unwrap();
    assert!(secrets.api_key.is_none() && secrets.admin_token.is_none());
    assert!(secrets.warnings.is_empty());
}

#[test]
fn secrets_come_from_the_file_then_the_environment_then_credentials() {
    let dir = dir();
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("paperspace-api-key"), "key-from-credential\n").unwrap();
    std::fs::write(creds.join("admin-token"), "token-from-credential-0123\n").unwrap();
    set_mode(&creds.join("paperspace-api-key"), 0o400);
    set_mode(&creds.join("admin-token"), 0o400);
    let key_file = write_secret(&dir, "key", "key-from-file\n");
    let token_file = write_secret(&dir, "token", "token-from-file-0123456\r\n");

    let creds_only = Env::from([("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())]);
    let env_too = creds_only
        .clone()
        .with("PAPERSPACE_API_KEY", "key-from-env")
        .with("MACHINIST_ADMIN_TOKEN", "token-from-env-0123456");

    // Credentials alone.
    let config = defaults();
    let secrets = config.secrets(&creds_only).unwrap();
    assert_eq!(api_key(&secrets), Some("key-from-credential"));
    assert_eq!(admin_token(&secrets), Some("token-from-credential-0123"));
    assert!(secrets.warnings.is_empty(), "{:?}", secrets.warnings);

    // The environment wins over credentials.
    let secrets = config.secrets(&env_too).unwrap();
    assert_eq!(api_key(&secrets), Some("key-from-env"));
    assert_eq!(admin_token(&secrets), Some("token-from-env-0123456"));

    // A configured file wins over both (the ignored variables get a warning).
    let mut config = defaults();
    config.paperspace.api_key_file = key_file;
    config.http.admin_token_file = token_file;
    let secrets = config.secrets(&env_too).unwrap();
    assert_eq!(api_key(&secrets), Some("key-from-file"));
    assert_eq!(admin_token(&secrets), Some("token-from-file-0123456"));
    assert_eq!(
        secrets.warnings,
        [
            "PAPERSPACE_API_KEY is set but not used: paperspace.api_key_file takes precedence",
            "MACHINIST_ADMIN_TOKEN is set but not used: http.admin_token_file takes precedence",
        ]
    );
}

#[test]
fn key_files_can_be_named_in_the_file_or_the_environment() {
    let dir = dir();
    let key_file = write_secret(&dir, "key", "key-from-file\n");
    let text = format!(
        "[paperspace]\nbackend = \"legacy\"\napi_key_file = {:?}\n",
        key_file.to_str().unwrap()
    );
    let path = write(&dir, "machinist.toml", &text);
    let config = Config::load_from(sources(&dir, Some(&path), Env::empty())).unwrap();
    let secrets = config.secrets_for_serve(&Env::empty()).unwrap();
    assert_eq!(api_key(&secrets), Some("key-from-file"));

    let env = Env::from([(
        "MACHINIST_PAPERSPACE_API_KEY_FILE",
        key_file.to_str().unwrap(),
    )]);
    let config = Config::load_from(sources(&dir, None, env)).unwrap();
    assert_eq!(config.paperspace.api_key_file(), Some(key_file.as_path()));
}

#[test]
fn unreadable_or_bad_key_files_name_the_path_never_the_content() {
    let dir = dir();
    let missing = dir.path().join("missing-key");
    let a_dir = dir.path().join("a-directory");
    std::fs::create_dir(&a_dir).unwrap();
    let empty = write_secret(&dir, "empty-token", "\n");
    let mut config = defaults();

    config.paperspace.api_key_file = missing.clone();
    config.http.admin_token_file = empty.clone();
    let errors = config.secrets(&Env::empty()).unwrap_err();
    assert_eq!(
        lines(&errors),
        [
            format!(
                "{}: paperspace.api_key_file: cannot read the Paperspace API key file: no such file",
                missing.display()
            ),
            format!(
                "{}: http.admin_token_file: the admin token file is empty",
                empty.display()
            ),
        ]
    );

    config.paperspace.api_key_file = a_dir.clone();
    let errors = config.secrets(&Env::empty()).unwrap_err();
    assert!(
        errors.to_string().starts_with(&format!(
            "{}: paperspace.api_key_file: cannot read the Paperspace API key file: ",
            a_dir.display()
        )),
        "{errors}"
    );

    let spaced = write_secret(&dir, "spaced-key", "very secret value\n");
    config.paperspace.api_key_file = spaced.clone();
    config.http.admin_token_file = PathBuf::new();
    let errors = config.secrets(&Env::empty()).unwrap_err();
    let shown = format!("{errors}\n{errors:?}");
    assert!(!shown.contains("secret value"), "{shown}");
    assert!(shown.contains(&spaced.display().to_string()), "{shown}");
    assert!(shown.contains("cannot go in an HTTP header"), "{shown}");
}

#[test]
fn a_bad_credential_is_an_error_but_a_missing_one_is_not() {
    let dir = dir();
    std::fs::write(dir.path().join("admin-token"), "").unwrap();
    set_mode(&dir.path().join("admin-token"), 0o400);
    let env = Env::from([("CREDENTIALS_DIRECTORY", dir.path().to_str().unwrap())]);
    let errors = defaults().secrets(&env).unwrap_err();
    assert_eq!(
        lines(&errors),
        [format!(
            "{}: the admin token file is empty",
            dir.path().join("admin-token").display()
        )]
    );
}

#[test]
fn a_secret_file_readable_by_others_is_a_warning() {
    let dir = dir();
    let key_file = write(&dir, "key", "open-key\n");
    set_mode(&key_file, 0o644);
    let mut config = defaults();
    config.paperspace.api_key_file = key_file.clone();
    let secrets = config.secrets(&Env::empty()).unwrap();
    assert_eq!(api_key(&secrets), Some("open-key"));
    assert_eq!(
        secrets.warnings,
        [format!(
            "the Paperspace API key file {} is readable by group or others (mode 0644); make it 0600",
            key_file.display()
        )]
    );
    assert!(!secrets.warnings.concat().contains("open-key"));
}

#[test]
fn a_short_admin_token_is_a_warning() {
    let env = Env::from([("MACHINIST_ADMIN_TOKEN", "short")]);
    let secrets = defaults().secrets(&env).unwrap();
    assert_eq!(admin_token(&secrets), Some("short"));
    assert_eq!(secrets.warnings.len(), 1);
    assert!(
        secrets.warnings[0]
            .starts_with("the admin token from env MACHINIST_ADMIN_TOKEN is shorter than 16")
    );
}

#[test]
fn serving_needs_a_key_for_a_real_backend_and_a_token_beyond_loopback() {
    let dir = dir();
    let env = Env::from([
        ("MACHINIST_PAPERSPACE_BACKEND", "legacy"),
        ("MACHINIST_HTTP_LISTEN", "0.0.0.0:7420"),
    ]);
    let config = Config::load_from(sources(&dir, None, env.clone())).unwrap();
    // Loading alone is fine: the settings are valid.
    let errors = config.secrets_for_serve(&env).unwrap_err();
    assert_eq!(
        lines(&errors),
        [
            "env MACHINIST_PAPERSPACE_BACKEND: paperspace.backend: the legacy backend needs an API key: set paperspace.api_key_file, PAPERSPACE_API_KEY or the systemd credential `paperspace-api-key`",
            "env MACHINIST_HTTP_LISTEN: http.listen: 0.0.0.0:7420 is not a loopback address, so the admin API needs a token: set http.admin_token_file, MACHINIST_ADMIN_TOKEN or the systemd credential `admin-token`",
        ]
    );
    // `secrets` alone does not judge what serving needs.
    config.secrets(&env).unwrap();

    let env = env
        .with("PAPERSPACE_API_KEY", "the-key")
        .with("MACHINIST_ADMIN_TOKEN", "a-long-enough-admin-token");
    let secrets = config.secrets_for_serve(&env).unwrap();
    config.validate_for_serve(&secrets).unwrap();
    assert_eq!(api_key(&secrets), Some("the-key"));

    // v1 needs a key too; the simulator does not.
    let mut v1 = config.clone();
    v1.paperspace.backend = Backend::V1;
    assert_eq!(
        v1.validate_for_serve(&Secrets::default())
            .unwrap_err()
            .len(),
        2
    );
    let mut sim = defaults();
    sim.http.listen = "[::1]:7420".parse().unwrap();
    sim.validate_for_serve(&Secrets::default()).unwrap();
}

#[test]
fn a_broken_key_file_is_not_also_reported_as_missing() {
    let dir = dir();
    let mut config = defaults();
    config.paperspace.backend = Backend::Legacy;
    config.paperspace.api_key_file = dir.path().join("missing");
    let errors = config.secrets_for_serve(&Env::empty()).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors}");
    assert!(
        errors
            .to_string()
            .contains("cannot read the Paperspace API key file")
    );
}

#[test]
fn nothing_prints_a_secret() {
    let dir = dir();
    let key_file = write_secret(&dir, "key", "KEY-SECRET-1\n");
    let mut config = defaults();
    config.paperspace.backend = Backend::Legacy;
    config.paperspace.api_key_file = key_file;
    let env = Env::from([("MACHINIST_ADMIN_TOKEN", "TOKEN-SECRET-0123456789")]);
    let secrets = config.secrets_for_serve(&env).unwrap();

    let printed = [
        format!("{config:?}"),
        format!("{secrets:?}"),
        format!("{secrets:#?}"),
        format!("{env:?}"),
        config.to_toml_masked(&secrets),
    ];
    for text in &printed {
        assert!(!text.contains("KEY-SECRET"), "{text}");
        assert!(!text.contains("TOKEN-SECRET"), "{text}");
    }
    assert!(printed[1].contains("ApiKey(****)") && printed[1].contains("AdminToken(****)"));

    let masked = &printed[4];
    assert!(masked.contains("api_key = \"****\""), "{masked}");
    assert!(masked.contains("admin_token = \"****\""), "{masked}");
}

#[test]
fn the_masked_toml_is_the_effective_configuration() {
    let env = Env::from([("MACHINIST_WORKERS_COUNT", "3")]);
    let (_dir, _path, config) = load_text("[workers]\nlease = \"1h30m\"\n", env);
    let config = config.unwrap();
    let masked = config.to_toml_masked(&Secrets::default());
    // No secret set: no secret keys at all.
    assert!(!masked.contains("api_key ="), "{masked}");
    assert!(!masked.contains("admin_token ="), "{masked}");
    assert!(masked.contains("[workers]\ncount = 3\n"), "{masked}");
    assert!(masked.contains("lease = \"90m\""), "{masked}");
    assert!(masked.contains("path = \"./machinist.db\""), "{masked}");
    // It loads back to the same settings.
    let (_dir, _path, again) = load_text(&masked, Env::empty());
    assert_eq!(again.unwrap(), config);
}

#[test]
fn admin_token_matches_in_constant_time() {
    let token = AdminToken::new("correct-horse-battery-staple\n").unwrap();
    assert!(token.matches(b"correct-horse-battery-staple"));
    assert!(!token.matches(b"correct-horse-battery-stapl"));
    assert!(!token.matches(b"correct-horse-battery-staplE"));
    assert!(!token.matches(b"correct-horse-battery-staple\n"));
    assert!(!token.matches(b""));
    assert_eq!(format!("{token:?}"), "AdminToken(****)");
}

#[test]
fn a_config_built_in_code_is_validated_too() {
    let mut config = Config::default();
    config.workers.count = 1000;
    config.rate_limit.per_second = f64::NAN;
    let errors = config.validate().unwrap_err();
    assert_eq!(
        lines(&errors),
        [
            "workers.count: must be between 1 and 256 (got 1000)",
            "rate_limit.per_second: must be more than 0 and at most 1000 (got NaN)",
        ]
    );
}

// The binary: `check-config` and `serve` with bad configuration.

const BIN: &str = env!("CARGO_BIN_EXE_machinist");

/// Runs the binary with only the environment given (none of the caller's
/// `MACHINIST_*`, `RUST_LOG` or secrets).
fn machinist(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(BIN);
    command.args(args).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the machinist binary runs")
}

#[test]
fn check_config_prints_the_effective_configuration_with_secrets_masked() {
    let dir = dir();
    let path = write(&dir, "machinist.toml", "[workers]\ncount = 3\n");
    let out = machinist(
        &["--config", path.to_str().unwrap(), "check-config"],
        &[
            ("MACHINIST_ADMIN_TOKEN", "tok-5e1d2c3b4a5f6e7d8c9b"),
            ("PAPERSPACE_API_KEY", "key-0a9b8c7d6e5f4a3b2c1d"),
            ("MACHINIST_PAPERSPACE_BACKEND", "legacy"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let printed: toml::Table = toml::from_str(&stdout).unwrap();
    assert_eq!(printed["workers"]["count"].as_integer(), Some(3));
    assert_eq!(printed["paperspace"]["backend"].as_str(), Some("legacy"));
    assert_eq!(printed["paperspace"]["api_key"].as_str(), Some("****"));
    assert_eq!(printed["http"]["admin_token"].as_str(), Some("****"));
    for secret in ["5e1d2c3b4a5f6e7d8c9b", "0a9b8c7d6e5f4a3b2c1d"] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
}

#[test]
fn bad_configuration_exits_2_with_one_line_per_problem_and_starts_nothing() {
    let dir = dir();
    let path = write(
        &dir,
        "machinist.toml",
        "[workers]\ncount = 0\nlease = \"soon\"\n\n[http]\nlisten = \"0.0.0.0:7420\"\n",
    );
    let db = dir.path().join("machinist.db");
    let env = [
        ("MACHINIST_STORE_PATH", db.to_str().unwrap()),
        ("MACHINIST_RATE_LIMIT_BURST", "many"),
    ];
    let file = path.display().to_string();
    for command in ["check-config", "serve"] {
        let out = machinist(&["--config", &file, command], &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        let problems: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("  "))
            .map(str::trim)
            .collect();
        assert_eq!(problems.len(), 4, "{command}: {stderr}");
        let has = |start: &str, middle: &str| {
            problems
                .iter()
                .any(|p| p.starts_with(start) && p.contains(middle))
        };
        assert!(has(
            &format!("{file}:2: workers.count: "),
            "between 1 and 256"
        ));
        assert!(has(&format!("{file}:3: workers.lease: "), "soon"));
        assert!(has(
            "env MACHINIST_RATE_LIMIT_BURST: rate_limit.burst: ",
            "many"
        ));
        assert!(has(&format!("{file}:6: http.listen: "), "needs a token"));
        assert!(!db.exists(), "{command} created the database");
    }
}

#[test]
fn a_store_url_must_be_postgres_and_its_password_is_never_shown() {
    let (_dir, path, result) = load_text(
        "[store]\nurl = \"mysql://fleet:hunter22@db/fleet\"\n",
        Env::empty(),
    );
    let errors = result.unwrap_err();
    let p = path.display();
    assert_eq!(
        lines(&errors),
        vec![format!(
            "{p}:2: store.url: must be a postgres:// or postgresql:// URL (leave it empty for SQLite)"
        )]
    );
    assert!(!errors.to_string().contains("hunter22"));

    let env = Env::empty().with("MACHINIST_STORE_URL", "postgres://fleet@db.internal/fleet");
    let config = Config::load_from(sources(&dir(), None, env)).unwrap();
    assert_eq!(config.store.url, "postgres://fleet@db.internal/fleet");

    // check-config prints it with the password masked.
    let dir = dir();
    let out = machinist(
        &["check-config"],
        &[
            (
                "MACHINIST_STORE_URL",
                "postgres://fleet:hunter22@db.internal/fleet",
            ),
            ("MACHINIST_PAPERSPACE_BACKEND", "sim"),
            (
                "MACHINIST_STORE_PATH",
                dir.path().join("m.db").to_str().unwrap(),
            ),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let printed: toml::Table = toml::from_str(&stdout).unwrap();
    assert_eq!(
        printed["store"]["url"].as_str(),
        Some("postgres://fleet:***@db.internal/fleet")
    );
    assert!(!stdout.contains("hunter22") && !stderr.contains("hunter22"));
}
