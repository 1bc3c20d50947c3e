//! The viewer token: a second bearer token that may read (every `GET`
//! route) and act on nothing. The real binary, configured as a user would
//! (`MACHINIST_VIEWER_TOKEN`), through HTTP and the CLI.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::harness::process::BIN;
use crate::harness::served::Served;

const ADMIN: &str = "admin-token-0123456789abcdef";
const VIEWER: &str = "viewer-token-0123456789abcdef";

/// `machinist serve` on a temp database and the embedded simulator, with
/// both tokens; its URL.
fn serve(dir: &std::path::Path) -> (Served, String) {
    let mut command = Command::new(BIN);
    command
        .arg("serve")
        .env("MACHINIST_STORE_PATH", dir.join("machinist.db"))
        .env("MACHINIST_HTTP_LISTEN", "127.0.0.1:0")
        .env("MACHINIST_ADMIN_TOKEN", ADMIN)
        .env("MACHINIST_VIEWER_TOKEN", VIEWER)
        .env_remove("MACHINIST_CONFIG")
        .env_remove("WATCHDOG_USEC")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    let daemon = Served::spawn(command);
    let url = daemon.ready();
    (daemon, url)
}

async fn call(method: reqwest::Method, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method.clone(), url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if method == reqwest::Method::POST {
        request = request.json(&json!({"kind": "refresh"}));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_viewer_reads_everything_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, url) = serve(dir.path());
    let jobs = format!("{url}/v1/jobs");

    // Reads: every GET route the admin may call, the viewer may.
    for path in [
        "/v1/jobs",
        "/v1/history",
        "/v1/machines",
        "/v1/schedules",
        "/v1/windows",
        "/v1/groups",
        "/metrics",
        "/",
    ] {
        let (status, _) = call(reqwest::Method::GET, &format!("{url}{path}"), Some(VIEWER)).await;
        assert_eq!(status, 200, "GET {path} with the viewer token");
    }

    // Acting: 403, and nothing is written.
    let (status, body) = call(reqwest::Method::POST, &jobs, Some(VIEWER)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (_, page) = call(reqwest::Method::GET, &jobs, Some(VIEWER)).await;
    assert_eq!(page["jobs"], json!([]), "a refused request wrote a job");
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{url}/v1/schedules/utilization-monthly/pause"),
        Some(VIEWER),
    )
    .await;
    assert_eq!(status, 403);

    // The admin token still acts; no token, or a wrong one, is still a 401.
    let (status, _) = call(reqwest::Method::POST, &jobs, Some(ADMIN)).await;
    assert_eq!(status, 201);
    for token in [None, Some("not-a-token-0123456789")] {
        let (status, _) = call(reqwest::Method::GET, &jobs, token).await;
        assert_eq!(status, 401, "{token:?}");
    }

    // The CLI: the viewer lists; a change says which token it needs, in
    // CLI words, and exits 1.
    let cli = |args: &[&str], token: &str| {
        let out = Command::new(BIN)
            .args(args)
            .env("MACHINIST_URL", &url)
            .env("MACHINIST_ADMIN_TOKEN", token)
            .env_remove("MACHINIST_CONFIG")
            .env_remove("MACHINIST_CONTEXT")
            .env("XDG_CONFIG_HOME", "/nonexistent/machinist-tests")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = cli(&["jobs", "list"], VIEWER);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("refresh"), "{stdout}");
    let (code, _, stderr) = cli(&["jobs", "submit", "refresh"], VIEWER);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("is the viewer token") && stderr.contains("pass the admin token"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(VIEWER) && !stderr.contains(ADMIN),
        "{stderr}"
    );
}

/// A viewer token is refused where it would limit nothing (no admin token)
/// or everything would pass with it (the admin token itself), and is
/// masked by `check-config`.
#[test]
fn check_config_refuses_a_viewer_token_that_limits_nothing_and_masks_it() {
    let run = |env: &[(&str, &str)]| {
        let mut command = Command::new(BIN);
        command.arg("check-config").env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, stderr) = run(&[("MACHINIST_VIEWER_TOKEN", VIEWER)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("http.viewer_token_file") && stderr.contains("without an admin token"),
        "{stderr}"
    );
    let (code, _, stderr) = run(&[
        ("MACHINIST_VIEWER_TOKEN", ADMIN),
        ("MACHINIST_ADMIN_TOKEN", ADMIN),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("is the admin token"), "{stderr}");
    let (code, stdout, stderr) = run(&[
        ("MACHINIST_VIEWER_TOKEN", VIEWER),
        ("MACHINIST_ADMIN_TOKEN", ADMIN),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let printed: toml::Table = toml::from_str(&stdout).unwrap();
    assert_eq!(printed["http"]["viewer_token"].as_str(), Some("****"));
    assert!(!stdout.contains(VIEWER) && !stderr.contains(VIEWER));
}
