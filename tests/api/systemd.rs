//! The real `machinist serve` binary as systemd runs it: it is given a
//! `NOTIFY_SOCKET` this test owns and must say `READY=1` once the admin API
//! answers, `WATCHDOG=1` at half of `WATCHDOG_USEC`, `STOPPING=1` at SIGTERM
//! (and exit 0); SIGHUP reloads the log level and the workers, and names
//! what needs a restart.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::process::BIN;
use crate::harness::served::{self, url_of_ready};

/// A `machinist serve` child ([`served::Served`]) with its temp directory
/// (configuration and database).
struct Served {
    served: served::Served,
    dir: tempfile::TempDir,
}

impl std::ops::Deref for Served {
    type Target = served::Served;
    fn deref(&self) -> &served::Served {
        &self.served
    }
}

impl std::ops::DerefMut for Served {
    fn deref_mut(&mut self) -> &mut served::Served {
        &mut self.served
    }
}

impl Served {
    fn start(config_text: &str, watchdog_usec: Option<u64>) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("machinist.toml");
        std::fs::write(&config, config_text).unwrap();
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env("MACHINIST_STORE_PATH", dir.path().join("machinist.db"))
            .env("MACHINIST_HTTP_LISTEN", "127.0.0.1:0")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("RUST_LOG")
            .env_remove("MACHINIST_ADMIN_TOKEN")
            .env_remove("PAPERSPACE_API_KEY")
            .env_remove("CREDENTIALS_DIRECTORY")
            .stdout(Stdio::null());
        if let Some(usec) = watchdog_usec {
            command.env("WATCHDOG_USEC", usec.to_string());
        }
        Served {
            served: served::Served::spawn(command),
            dir,
        }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("machinist.toml")
    }

    fn wait_for_line(&self, parts: &[&str]) -> String {
        self.lines.wait_for_line(parts)
    }
}

fn healthz(url: &str) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        reqwest::get(format!("{url}/healthz"))
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    })
}

#[test]
fn ready_watchdog_and_stopping_reach_the_notify_socket() {
    // 300ms: pings every 150ms.
    let mut served = Served::start("[log]\nlevel = \"info\"\n", Some(300_000));

    let ready = served.message();
    let url = url_of_ready(&ready);
    // READY=1 means migrations are applied and the listener is bound: the
    // admin API answers at once, without a retry.
    assert_eq!(healthz(&url), 200);

    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(served.message(), "WATCHDOG=1");
    }
    // Three pings at 150ms take about 300ms (the first may come at once).
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(5),
        "three pings took {elapsed:?}"
    );
    served.wait_for_line(&["sending the systemd watchdog", "150ms"]);

    served.signal("TERM");
    let stopping = served.next_non_watchdog();
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping:?}");
    let status = served.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    served.wait_for_line(&["stopped"]);
}

#[test]
fn without_a_watchdog_only_ready_and_stopping_are_sent() {
    let mut served = Served::start("", None);
    let url = url_of_ready(&served.message());
    assert_eq!(healthz(&url), 200);
    served.signal("TERM");
    let stopping = served.message();
    assert!(stopping.starts_with("STOPPING=1\n"), "{stopping:?}");
    assert!(served.wait_exit().success());
}

#[test]
fn sighup_reloads_the_log_level_and_workers_and_names_what_needs_a_restart() {
    let served = Served::start("[workers]\ncount = 4\n\n[log]\nlevel = \"info\"\n", None);
    let url = url_of_ready(&served.message());
    assert_eq!(healthz(&url), 200);
    let debug_lines = || {
        served
            .lines
            .all()
            .iter()
            .filter(|l| l.contains("DEBUG"))
            .count()
    };
    assert_eq!(debug_lines(), 0, "info level logs no debug line");

    std::fs::write(
        served.config_path(),
        "[workers]\ncount = 2\n\n[http]\nrequest_timeout = \"10s\"\n\n[log]\nlevel = \"debug\"\n",
    )
    .unwrap();
    served.signal("HUP");
    assert_eq!(served.message(), "RELOADING=1");
    let ready = served.message();
    assert_eq!(
        url_of_ready(&ready),
        url,
        "the same listener after a reload"
    );

    let reloaded = served.wait_for_line(&["reloaded the configuration", "log.level = \"debug\""]);
    assert!(reloaded.contains("workers.count"), "{reloaded}");
    served.wait_for_line(&["restarting the workers", "count=2"]);
    let restart = served.wait_for_line(&["take effect only after a restart"]);
    assert!(restart.contains("http.request_timeout"), "{restart}");
    assert!(!restart.contains("workers.count"), "{restart}");

    // The new level is in force: a request now logs at debug.
    assert_eq!(healthz(&url), 200);
    let debug = |lines: &[String]| lines.iter().any(|l| l.contains("DEBUG"));
    assert!(
        served.lines.wait_until(Duration::from_secs(10), debug),
        "no debug line after the reload"
    );

    // An invalid file is refused as a whole, naming the problem, and the
    // daemon keeps running.
    std::fs::write(served.config_path(), "[workers]\ncount = 0\n").unwrap();
    served.signal("HUP");
    assert_eq!(served.message(), "RELOADING=1");
    url_of_ready(&served.message());
    served.wait_for_line(&["workers.count", "must be between 1 and 256"]);
    served.wait_for_line(&["nothing was reloaded"]);
    assert_eq!(healthz(&url), 200);
}

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/machinist.service");

#[test]
fn the_unit_file_is_hardened_and_names_the_credentials_machinist_reads() {
    let unit = std::fs::read_to_string(UNIT).unwrap();
    let directives: Vec<&str> = unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .collect();
    for wanted in [
        "Type=notify",
        "WatchdogSec=30s",
        "DynamicUser=yes",
        "StateDirectory=machinist",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "ExecStart=/usr/bin/machinist serve",
        "ExecReload=/bin/kill -HUP $MAINPID",
        // The credential names are the ones the configuration reads from
        // $CREDENTIALS_DIRECTORY.
        "LoadCredential=paperspace-api-key:machinist-paperspace-api-key",
        "LoadCredential=admin-token:machinist-admin-token",
    ] {
        assert!(directives.contains(&wanted), "{wanted} is missing");
    }
    // Well above the admin API's connection cap, so that connections cannot
    // take every descriptor from the database and /healthz.
    let nofile: usize = directives
        .iter()
        .find_map(|d| d.strip_prefix("LimitNOFILE="))
        .and_then(|v| v.parse().ok())
        .expect("LimitNOFILE is set to a number");
    let max_connections = machinist::config::HttpConfig::default().max_connections;
    assert!(
        nofile >= 4 * max_connections,
        "LimitNOFILE={nofile} leaves too little above http.max_connections = {max_connections}"
    );
    // Where systemd is installed, it must accept the unit (against the
    // binary under test, since /usr/bin/machinist may not exist here).
    if let Ok(out) = Command::new("systemd-analyze").arg("--version").output()
        && out.status.success()
    {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("machinist.service");
        std::fs::write(&copy, unit.replace("/usr/bin/machinist", BIN)).unwrap();
        let verify = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .unwrap();
        assert!(
            verify.status.success() && verify.stderr.is_empty(),
            "systemd-analyze verify: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
    }
}
