//! The real `machinist` binary as a child process of a test. Whatever is
//! process-wide (signals, the environment, `NOTIFY_SOCKET`, a SIGKILL) a test
//! gives to a child, never to this process, which runs every test at once.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_machinist");

/// A child process, killed when dropped, so that a failing test leaves none
/// behind.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Kill {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Kill {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// `machinist sim --listen 127.0.0.1:0 ARGS…` in its own process (so it
/// outlives a daemon the test kills); returns it and its URL, read from its
/// first line.
pub fn start_sim(args: &[&str]) -> (Kill, String) {
    let mut child = Command::new(BIN)
        .args(["sim", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the machinist binary runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (Kill(child), url)
}

/// Sends signal `name` to `child` (by `kill(1)`: the child, not this process).
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}
