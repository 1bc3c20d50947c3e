//! A `machinist serve` child waited on by its own signs, not by sleeping:
//! its `READY=1` on a notification socket ([`Served`]), a line of its output
//! or the end of it ([`Lines`]).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::process::{Kill, signal};

/// A child's output, line by line as it arrives, read on a thread; waiters
/// are woken by each line and by the end of the stream.
#[derive(Clone)]
pub struct Lines(Arc<(Mutex<Output>, Condvar)>);

#[derive(Default)]
struct Output {
    lines: Vec<String>,
    /// The stream ended: the child closed it, or exited.
    closed: bool,
}

impl Lines {
    pub fn collect(stream: impl Read + Send + 'static) -> Lines {
        let lines = Lines(Arc::default());
        let sink = lines.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                sink.0.lock().unwrap().lines.push(line);
                sink.1.notify_all();
            }
            sink.0.lock().unwrap().closed = true;
            sink.1.notify_all();
        });
        lines
    }

    /// The lines so far.
    pub fn all(&self) -> Vec<String> {
        self.0.0.lock().unwrap().lines.clone()
    }

    /// The lines so far, one text.
    pub fn text(&self) -> String {
        self.all().join("\n")
    }

    /// Waits until `done` holds of the lines so far, for at most `within`;
    /// whether it did.
    pub fn wait_until(&self, within: Duration, done: impl Fn(&[String]) -> bool) -> bool {
        let deadline = Instant::now() + within;
        let (read, changed) = &*self.0;
        let mut read = read.lock().unwrap();
        loop {
            if done(&read.lines) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || read.closed {
                return false;
            }
            read = changed.wait_timeout(read, left).unwrap().0;
        }
    }

    /// Waits (at most 30 s) for a line containing every one of `parts`, and
    /// returns it; panics with the output so far.
    pub fn wait_for_line(&self, parts: &[&str]) -> String {
        let matches = |line: &String| parts.iter().all(|p| line.contains(p));
        let found = self.wait_until(Duration::from_secs(30), |lines| lines.iter().any(matches));
        assert!(found, "no line with {parts:?}; output:\n{}", self.text());
        self.all().into_iter().find(matches).unwrap()
    }

    /// Waits (at most 30 s) for the end of the stream, and returns every line.
    pub fn wait_closed(&self) -> Vec<String> {
        self.wait_until(Duration::from_secs(30), |_| false);
        let closed = self.0.0.lock().unwrap().closed;
        assert!(closed, "the stream did not end; output:\n{}", self.text());
        self.all()
    }
}

/// A `machinist … serve` child run as systemd runs it: with a
/// `NOTIFY_SOCKET` of its own, which says when it is ready and where it
/// listens, and its stderr collected.
pub struct Served {
    pub child: Kill,
    socket: UnixDatagram,
    /// stderr, line by line, as it arrives.
    pub lines: Lines,
    _socket_dir: tempfile::TempDir,
}

impl Served {
    /// Spawns `command` with `NOTIFY_SOCKET` set and stderr piped (stdout as
    /// the command says).
    pub fn spawn(mut command: Command) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let socket_path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&socket_path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut child = command
            .env("NOTIFY_SOCKET", &socket_path)
            .stderr(Stdio::piped())
            .spawn()
            .expect("the machinist binary runs");
        let lines = Lines::collect(child.stderr.take().unwrap());
        Served {
            child: Kill(child),
            socket,
            lines,
            _socket_dir: dir,
        }
    }

    /// The next notification, or a panic with the log so far.
    pub fn message(&self) -> String {
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(len) => String::from_utf8_lossy(&buf[..len]).into_owned(),
            Err(e) => panic!("no notification ({e}); log:\n{}", self.lines.text()),
        }
    }

    /// Skips watchdog pings until a message that is not one.
    pub fn next_non_watchdog(&self) -> String {
        loop {
            let message = self.message();
            if message != "WATCHDOG=1" {
                return message;
            }
        }
    }

    /// Waits for `READY=1` and returns the admin API's URL from its status.
    pub fn ready(&self) -> String {
        url_of_ready(&self.next_non_watchdog())
    }

    /// Sends signal `name` (`TERM`, `HUP`, `INT`) to the child.
    pub fn signal(&self, name: &str) {
        signal(&self.child, name);
    }

    /// Waits (at most 30 s) for the child to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        // It closes stderr when it exits; then `wait` returns at once.
        self.lines.wait_closed();
        self.child.wait().unwrap()
    }

    /// SIGTERM, then the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit()
    }
}

/// `READY=1\nSTATUS=serving the admin API on http://…` → the URL.
pub fn url_of_ready(message: &str) -> String {
    let mut lines = message.lines();
    assert_eq!(lines.next(), Some("READY=1"), "{message:?}");
    let status = lines.next().unwrap_or_default();
    status
        .strip_prefix("STATUS=serving the admin API on ")
        .unwrap_or_else(|| panic!("unexpected status in {message:?}"))
        .to_string()
}
