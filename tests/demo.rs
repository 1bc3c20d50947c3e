//! `machinist demo`, as a newcomer runs it (but through a pipe, so with one
//! line per change): jobs go through their states, the example window starts
//! machines within seconds, and Ctrl-C ends it cleanly with exit code 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;
use support::process::{BIN, Kill};

#[test]
fn the_demo_shows_jobs_and_machines_moving_and_stops_on_ctrl_c() {
    let mut child = Command::new(BIN)
        .args(["demo", "--transition-ms", "300"])
        .env_remove("RUST_LOG")
        .env_remove("MACHINIST_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(Kill)
        .expect("the machinist binary runs");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let seen = |part: &str| lines.lock().unwrap().iter().any(|l| l.contains(part));
    // The window opens a few seconds after start: a start job it made runs
    // and a machine goes from off to starting.
    let deadline = Instant::now() + Duration::from_secs(40);
    while !(seen("start") && seen("off → starting") && seen("job 8")) {
        assert!(
            Instant::now() < deadline,
            "the window did not start a machine:\n{}",
            lines.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let lines = lines.lock().unwrap();
    let text = lines.join("\n");
    assert_eq!(status.code(), Some(0), "{text}");
    for part in [
        "schedules          demo-window-open/close",
        "utilization-monthly",
        "refresh                 succeeded",
        "succeeded",
        "demo-train-1",
        "The daemon stopped cleanly.",
    ] {
        assert!(text.contains(part), "no {part:?} in:\n{text}");
    }
    assert!(
        !text.contains("\x1b["),
        "escape codes in piped output:\n{text}"
    );
}
