//! How the real `machinist` binary finds a daemon and its token: `--token`,
//! `--token-file`, `$MACHINIST_ADMIN_TOKEN`, contexts in a client config,
//! URLs without a scheme, and what a 401 says. Every run starts from an
//! environment with no `MACHINIST_*` variable of the host, an empty daemon
//! config and an empty config home, so only what a test sets is seen.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::harness::{AppOptions, TestApp, process, spawn_app};

const TOKEN: &str = "test-admin-token-0123456789";

/// The variables a run must not inherit from the host.
const CLEARED: &[&str] = &[
    "MACHINIST_URL",
    "MACHINIST_ADMIN_TOKEN",
    "MACHINIST_CONFIG",
    "MACHINIST_CONTEXT",
    "MACHINIST_CLIENT_CONFIG",
    "CREDENTIALS_DIRECTORY",
    "RUST_LOG",
];

/// A run's exit code and output.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A place for the files a test writes: an empty daemon config (so no
/// token is found where the daemon would read it) and an empty config home.
struct Home {
    dir: TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("machinist.toml"), "").unwrap();
        std::fs::create_dir(dir.path().join("xdg")).unwrap();
        Home { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `machinist ARGS…` with `env` set and nothing else of the host's.
    async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = tokio::process::Command::new(process::BIN);
        cmd.args(args).kill_on_drop(true);
        for var in CLEARED {
            cmd.env_remove(var);
        }
        cmd.env("MACHINIST_CONFIG", self.path("machinist.toml"))
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().await.unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn assert_ok(run: &Run, what: &str) {
    assert_eq!(
        run.code, 0,
        "{what}\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        run.stdout.contains("no schedules"),
        "{what}: {}",
        run.stdout
    );
}

fn assert_fails(run: &Run, what: &str) -> String {
    assert_eq!(
        run.code, 1,
        "{what}\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(!run.stderr.contains(TOKEN), "{what}: {}", run.stderr);
    run.stderr.clone()
}

async fn app() -> TestApp {
    let app = spawn_app(AppOptions::default()).await;
    assert_eq!(app.token, Some(TOKEN));
    app
}

/// `127.0.0.1:PORT`: the app's URL without its scheme.
fn bare(url: &str) -> &str {
    url.strip_prefix("http://").unwrap()
}

#[tokio::test]
async fn tokens_from_the_flag_the_file_and_the_variable() {
    let app = app().await;
    let home = Home::new();
    let url = app.url.as_str();
    let file = home.write("token", &format!("{TOKEN}\n"));
    let file = file.to_str().unwrap();
    let wrong = home.write("wrong", "not-the-token-at-all\n");
    let wrong = wrong.to_str().unwrap();

    let run = home
        .run(&["schedules", "list", "--url", url, "--token", TOKEN], &[])
        .await;
    assert_ok(&run, "--token");
    let run = home
        .run(
            &["schedules", "list", "--url", url, "--token-file", file],
            &[],
        )
        .await;
    assert_ok(&run, "--token-file");
    let run = home
        .run(
            &["schedules", "list"],
            &[("MACHINIST_URL", url), ("MACHINIST_ADMIN_TOKEN", TOKEN)],
        )
        .await;
    assert_ok(&run, "$MACHINIST_ADMIN_TOKEN");
    // The flags come before the variable, --token before --token-file.
    let run = home
        .run(
            &["schedules", "list", "--url", url, "--token-file", file],
            &[("MACHINIST_ADMIN_TOKEN", "not-the-token-at-all")],
        )
        .await;
    assert_ok(&run, "--token-file over the variable");
    let run = home
        .run(
            &[
                "schedules",
                "list",
                "--url",
                url,
                "--token",
                TOKEN,
                "--token-file",
                wrong,
            ],
            &[],
        )
        .await;
    assert_ok(&run, "--token over --token-file");
    // Global: the flags go before the subcommand too.
    let run = home
        .run(
            &["schedules", "--token-file", file, "--url", url, "list"],
            &[],
        )
        .await;
    assert_ok(&run, "flags before the subcommand");
}

#[tokio::test]
async fn a_401_says_what_to_set_and_exits_1() {
    let app = app().await;
    let home = Home::new();
    let url = app.url.as_str();

    let refused = home
        .run(
            &[
                "schedules",
                "list",
                "--url",
                url,
                "--token",
                "wrong-token-0123456789",
            ],
            &[],
        )
        .await;
    let stderr = assert_fails(&refused, "a wrong token");
    assert!(
        stderr.starts_with(&format!(
            "error: the admin token is not valid for the daemon at {url}: \
             pass --token-file PATH, set MACHINIST_ADMIN_TOKEN, or add token_file to a context in "
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("Authorization"), "{stderr}");
    assert!(!stderr.contains("wrong-token"), "{stderr}");

    let missing = home.run(&["schedules", "list", "--url", url], &[]).await;
    let stderr = assert_fails(&missing, "no token");
    assert!(
        stderr.contains(&format!(
            "the daemon at {url} needs an admin token and none was given: pass --token-file PATH"
        )),
        "{stderr}"
    );
    // `jobs` (which has only --url) says the same.
    let jobs = home.run(&["jobs", "list", "--url", url], &[]).await;
    assert!(
        assert_fails(&jobs, "jobs without a token").contains("none was given"),
        "{}",
        jobs.stderr
    );
}

#[tokio::test]
async fn token_files_that_cannot_be_used_are_named() {
    let app = app().await;
    let home = Home::new();
    let url = app.url.as_str();
    let absent = home.path("absent.token");
    let run = home
        .run(
            &[
                "schedules",
                "list",
                "--url",
                url,
                "--token-file",
                absent.to_str().unwrap(),
            ],
            &[],
        )
        .await;
    let stderr = assert_fails(&run, "a missing token file");
    assert!(
        stderr.contains(&format!(
            "cannot read the admin token file {} (--token-file)",
            absent.display()
        )),
        "{stderr}"
    );
    let empty = home.write("empty.token", "\n");
    let run = home
        .run(
            &[
                "schedules",
                "list",
                "--url",
                url,
                "--token-file",
                empty.to_str().unwrap(),
            ],
            &[],
        )
        .await;
    let stderr = assert_fails(&run, "an empty token file");
    assert!(
        stderr.contains(&format!("{} (--token-file)", empty.display())) && stderr.contains("empty"),
        "{stderr}"
    );
}

#[tokio::test]
async fn urls_without_a_scheme_are_http_and_other_schemes_are_refused() {
    let app = app().await;
    let home = Home::new();
    let bare = bare(&app.url);
    let run = home
        .run(&["schedules", "list", "--url", bare, "--token", TOKEN], &[])
        .await;
    assert_ok(&run, "127.0.0.1:PORT");
    let port = bare.rsplit_once(':').unwrap().1;
    let localhost = format!("localhost:{port}");
    let run = home
        .run(
            &["schedules", "list", "--url", &localhost, "--token", TOKEN],
            &[],
        )
        .await;
    assert_ok(&run, "localhost:PORT");

    let ftp = format!("ftp://{bare}");
    let run = home
        .run(&["schedules", "list", "--url", &ftp, "--token", TOKEN], &[])
        .await;
    let stderr = assert_fails(&run, "ftp://");
    assert!(
        stderr.contains("the scheme `ftp` is not supported: use http:// or https://"),
        "{stderr}"
    );
    let query = format!("{}/?x=1", app.url);
    let run = home
        .run(
            &["schedules", "list", "--url", &query, "--token", TOKEN],
            &[],
        )
        .await;
    assert!(
        assert_fails(&run, "a query").contains("leave out the query"),
        "{}",
        run.stderr
    );
}

/// A client config with a context for the app (`test`, by its bare
/// address and a token file), one without a token (`tokenless`) and one
/// for a daemon that is not there (`away`).
fn client_config(home: &Home, app: &TestApp, current: Option<&str>) -> PathBuf {
    home.write("app.token", TOKEN);
    let current = current
        .map(|c| format!("current_context = \"{c}\"\n"))
        .unwrap_or_default();
    home.write(
        "client.toml",
        &format!(
            "{current}\
             [contexts.test]\n\
             url = \"{}\"\n\
             token_file = \"app.token\"\n\
             [contexts.tokenless]\n\
             url = \"{}\"\n\
             [contexts.away]\n\
             url = \"http://127.0.0.1:9\"\n\
             token_file = \"/nonexistent/away.token\"\n",
            bare(&app.url),
            app.url
        ),
    )
}

fn env_for(path: &Path) -> (&'static str, &str) {
    ("MACHINIST_CLIENT_CONFIG", path.to_str().unwrap())
}

#[tokio::test]
async fn a_context_gives_the_url_and_the_token() {
    let app = app().await;
    let home = Home::new();
    let config = client_config(&home, &app, None);
    let env = [env_for(&config)];

    let run = home
        .run(&["schedules", "list", "--context", "test"], &env)
        .await;
    assert_ok(&run, "--context test");
    let run = home
        .run(&["jobs", "list"], &[env[0], ("MACHINIST_CONTEXT", "test")])
        .await;
    assert_eq!(run.code, 0, "MACHINIST_CONTEXT for jobs: {}", run.stderr);
    // Without a context and no current_context: no token anywhere.
    let run = home
        .run(&["schedules", "list", "--url", &app.url], &env)
        .await;
    assert!(assert_fails(&run, "no context").contains("none was given"));
    // A context without a token file, a token on the command line.
    let run = home
        .run(
            &[
                "schedules",
                "list",
                "--context",
                "tokenless",
                "--token",
                TOKEN,
            ],
            &env,
        )
        .await;
    assert_ok(&run, "tokenless + --token");
    // --url and --token beat the context's.
    let run = home
        .run(
            &[
                "schedules",
                "list",
                "--context",
                "away",
                "--url",
                &app.url,
                "--token",
                TOKEN,
            ],
            &env,
        )
        .await;
    assert_ok(&run, "--url and --token over the context");

    // current_context is the default; --context still picks another.
    let config = client_config(&home, &app, Some("test"));
    let env = [env_for(&config)];
    let run = home.run(&["schedules", "list"], &env).await;
    assert_ok(&run, "current_context");
    let run = home
        .run(&["schedules", "list", "--context", "away"], &env)
        .await;
    let stderr = assert_fails(&run, "the away context");
    assert!(
        stderr.contains("/nonexistent/away.token (token_file of context `away`)"),
        "{stderr}"
    );
}

#[tokio::test]
async fn unknown_contexts_and_malformed_files_are_named() {
    let app = app().await;
    let home = Home::new();
    let config = client_config(&home, &app, None);
    let env = [env_for(&config)];

    let run = home
        .run(&["schedules", "list", "--context", "prod"], &env)
        .await;
    let stderr = assert_fails(&run, "an unknown context");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: unknown context `prod` in {}: known contexts: away, test, tokenless",
            config.display()
        )
    );

    let bad = home.write(
        "bad.toml",
        "[contexts.prod]\nurl = \"http://127.0.0.1:7420\"\ntoken = \"x\"\n",
    );
    let run = home.run(&["schedules", "list"], &[env_for(&bad)]).await;
    let stderr = assert_fails(&run, "a malformed client config");
    assert!(
        stderr.contains(&format!("{}:3: ", bad.display())) && stderr.contains("token"),
        "{stderr}"
    );
    let run = home.run(&["contexts"], &[env_for(&bad)]).await;
    assert_fails(&run, "contexts on a malformed file");

    let absent = home.path("absent.toml");
    let run = home.run(&["contexts"], &[env_for(&absent)]).await;
    let stderr = assert_fails(&run, "a named client config that is not there");
    assert!(stderr.contains(&absent.display().to_string()), "{stderr}");
}

#[tokio::test]
async fn contexts_lists_them_and_marks_the_current_one() {
    let app = app().await;
    let home = Home::new();
    let config = client_config(&home, &app, Some("test"));
    let env = [env_for(&config)];
    let run = home.run(&["contexts"], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let token_file = home.path("app.token");
    let expected = format!(
        "CURRENT  NAME       URL                 TOKEN FILE\n\
         \x20        away       http://127.0.0.1:9  /nonexistent/away.token\n\
         *        test       {bare:<18}  {}\n\
         \x20        tokenless  {url:<18}  -\n",
        token_file.display(),
        bare = bare(&app.url),
        url = app.url,
    );
    // The URL column is as wide as its longest cell: compare column by column.
    let rows = |text: &str| -> Vec<Vec<String>> {
        text.lines()
            .map(|l| {
                let star = l.starts_with('*');
                let mut cells: Vec<String> = l.split_whitespace().map(str::to_string).collect();
                if !star && !l.starts_with("CURRENT") {
                    cells.insert(0, String::new());
                }
                cells
            })
            .collect()
    };
    assert_eq!(rows(&run.stdout), rows(&expected), "{}", run.stdout);

    // --context (or $MACHINIST_CONTEXT) moves the star.
    let run = home
        .run(&["contexts"], &[env[0], ("MACHINIST_CONTEXT", "away")])
        .await;
    let away = run.stdout.lines().find(|l| l.contains("away")).unwrap();
    assert!(away.starts_with('*'), "{}", run.stdout);

    // No file at the default path: a header and a hint, exit 0.
    let run = home.run(&["contexts"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "CURRENT  NAME  URL  TOKEN FILE\n");
    assert!(
        run.stderr.contains("no contexts defined in")
            && run.stderr.contains("xdg/machinist/client.toml"),
        "{}",
        run.stderr
    );
}
