//! What issue 18 asks of every command line: a closed stdout, durations as
//! people type them, a port already taken, messages in plain words. The real
//! binary, against a daemon in this process where one is needed.

use std::process::Stdio;

use tokio::io::AsyncReadExt;

use crate::harness::{AppOptions, TestApp, spawn_app};

/// Runs the CLI; its stdout, after checking it exited 0.
async fn ok(app: &TestApp, args: &[&str]) -> String {
    let out = app.cli(args).await;
    assert_eq!(
        out.code, 0,
        "{args:?}\nstdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// `machinist jobs list | head -0`: the reader is gone before the first line
/// is written. The command ends quietly (as `ls` does: SIGPIPE, or exit 0),
/// with no panic and no `error:` line.
#[tokio::test]
async fn a_closed_stdout_ends_a_listing_quietly() {
    let app = spawn_app(AppOptions::default()).await;
    for _ in 0..3 {
        ok(&app, &["jobs", "submit", "show", "ps123abc"]).await;
    }
    for args in [&["jobs", "list"][..], &["history"][..], &["status"][..]] {
        let mut child = app
            .cli_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the command has reached the daemon, let alone printed.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        let status = child.wait().await.unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("error:"), "{args:?}: {stderr}");
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert!(
                status.success() || status.signal() == Some(libc::SIGPIPE),
                "{args:?}: {status:?}, {stderr}"
            );
        }
        #[cfg(not(unix))]
        assert!(status.success(), "{args:?}: {status:?}, {stderr}");
    }
}
