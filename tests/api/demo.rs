//! `machinist demo`, as a newcomer runs it (but through a pipe, so with one
//! line per change): jobs go through their states, the example window starts
//! machines within seconds, and Ctrl-C ends it cleanly with exit code 0.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::process::{BIN, Kill, signal};
use crate::harness::served::Lines;

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
    let lines = Lines::collect(child.stdout.take().unwrap());
    // The window opens a few seconds after start: a start job it made runs
    // and a machine goes from off to starting (woken by each line it prints).
    let moved = lines.wait_until(Duration::from_secs(40), |lines| {
        let seen = |part: &str| lines.iter().any(|l| l.contains(part));
        seen("start") && seen("off → starting") && seen("job 8")
    });
    assert!(
        moved,
        "the window did not start a machine:\n{}",
        lines.text()
    );
    signal(&child, "INT");
    let status = child.wait().unwrap();
    let text = lines.wait_closed().join("\n");
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
