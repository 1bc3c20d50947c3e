//! systemd's service notification protocol (`sd_notify`), written out by
//! hand: one datagram per message to the socket named by `NOTIFY_SOCKET`.
//!
//! With `Type=notify` the unit counts as started only once the daemon says
//! `READY=1`, which `machinist serve` sends after migrations are applied and
//! the admin API is bound; with `WatchdogSec=` systemd restarts a daemon
//! that stops sending `WATCHDOG=1` (sent at half of `WATCHDOG_USEC`, each
//! time after the database answered); `STOPPING=1` tells it the shutdown is
//! deliberate. Outside systemd (`NOTIFY_SOCKET` unset) every call does
//! nothing, so the same binary runs anywhere.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// The variables a notifier is built from, injectable for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyEnv {
    /// `NOTIFY_SOCKET`: a path, or `@name` for an abstract socket.
    pub socket: Option<String>,
    /// `WATCHDOG_USEC`: the watchdog period systemd enforces, in µs.
    pub watchdog_usec: Option<String>,
    /// `WATCHDOG_PID`: the watchdog is ours only if this is our pid (or unset).
    pub watchdog_pid: Option<String>,
}

impl NotifyEnv {
    /// The process environment.
    pub fn process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        NotifyEnv {
            socket: var("NOTIFY_SOCKET"),
            watchdog_usec: var("WATCHDOG_USEC"),
            watchdog_pid: var("WATCHDOG_PID"),
        }
    }
}

/// Sends notifications to systemd, or nothing when not run by it.
#[derive(Debug, Default)]
pub struct Notifier {
    /// Where messages go; `None` outside systemd.
    target: Option<Target>,
    /// How often to send `WATCHDOG=1`: half the period systemd enforces.
    watchdog_every: Option<Duration>,
}

#[derive(Debug)]
struct Target {
    /// As given in `NOTIFY_SOCKET`, for messages.
    name: String,
    /// An unbound datagram socket the messages are sent from.
    socket: UnixDatagram,
    /// systemd's socket, resolved once (a path or an abstract name).
    address: std::os::unix::net::SocketAddr,
}

/// Why the notification socket cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET={socket} cannot be used: {source}")]
    Socket { socket: String, source: io::Error },
    #[error("WATCHDOG_USEC={0} is not a whole number of microseconds")]
    BadWatchdog(String),
}

impl Notifier {
    /// A notifier that sends nothing.
    pub fn disabled() -> Self {
        Notifier::default()
    }

    /// A notifier for the environment systemd gave this process.
    pub fn from_env(env: &NotifyEnv) -> Result<Self, NotifyError> {
        let watchdog_every = match &env.watchdog_usec {
            None => None,
            Some(raw) => {
                let usec: u64 = raw
                    .trim()
                    .parse()
                    .map_err(|_| NotifyError::BadWatchdog(raw.clone()))?;
                let ours = match &env.watchdog_pid {
                    None => true,
                    Some(pid) => pid.trim() == std::process::id().to_string(),
                };
                (ours && usec > 0).then(|| Duration::from_micros(usec) / 2)
            }
        };
        let Some(name) = env.socket.clone() else {
            return Ok(Notifier {
                target: None,
                watchdog_every: None,
            });
        };
        let failed = |source| NotifyError::Socket {
            socket: name.clone(),
            source,
        };
        let address = match name.strip_prefix('@') {
            Some(abstract_name) => abstract_address(abstract_name).map_err(failed)?,
            None => std::os::unix::net::SocketAddr::from_pathname(&name).map_err(failed)?,
        };
        let socket = UnixDatagram::unbound().map_err(failed)?;
        Ok(Notifier {
            target: Some(Target {
                name,
                socket,
                address,
            }),
            watchdog_every,
        })
    }

    /// How often the main loop should call [`Notifier::watchdog`]; `None`
    /// when systemd runs no watchdog on this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.target.as_ref().and(self.watchdog_every)
    }

    /// `READY=1`: start-up is complete.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// `RELOADING=1`: a reload (SIGHUP) began; follow it with [`Notifier::ready`].
    pub fn reloading(&self) {
        self.send("RELOADING=1");
    }

    /// `WATCHDOG=1`: still alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// `STOPPING=1`: shutting down on purpose.
    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={status}"));
    }

    /// Sends one message. A failure is logged, not returned: systemd not
    /// hearing from us is its business (it times out or restarts us), and
    /// the daemon itself is fine.
    fn send(&self, message: &str) {
        let Some(target) = &self.target else {
            return;
        };
        if let Err(e) = target
            .socket
            .send_to_addr(message.as_bytes(), &target.address)
        {
            tracing::warn!(socket = %target.name, error = %e, "could not notify systemd");
        }
    }
}

#[cfg(target_os = "linux")]
fn abstract_address(name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(target_os = "linux"))]
fn abstract_address(_: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(socket: Option<&str>, usec: Option<&str>, pid: Option<&str>) -> NotifyEnv {
        NotifyEnv {
            socket: socket.map(str::to_string),
            watchdog_usec: usec.map(str::to_string),
            watchdog_pid: pid.map(str::to_string),
        }
    }

    #[test]
    fn without_a_socket_nothing_is_sent() {
        let n = Notifier::from_env(&env(None, Some("1000000"), None)).unwrap();
        assert!(n.target.is_none());
        assert_eq!(n.watchdog_interval(), None);
        n.ready("x"); // does nothing, does not panic
    }

    #[test]
    fn messages_arrive_and_the_watchdog_runs_at_half_the_period() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        let pid = std::process::id().to_string();
        let n = Notifier::from_env(&env(
            Some(path.to_str().unwrap()),
            Some("2000000"),
            Some(&pid),
        ))
        .unwrap();
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(1)));
        n.ready("serving");
        n.watchdog();
        n.stopping("bye");
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        for _ in 0..3 {
            let len = listener.recv(&mut buf).unwrap();
            got.push(String::from_utf8_lossy(&buf[..len]).to_string());
        }
        assert_eq!(
            got,
            [
                "READY=1\nSTATUS=serving",
                "WATCHDOG=1",
                "STOPPING=1\nSTATUS=bye"
            ]
        );
    }

    #[test]
    fn a_watchdog_for_another_pid_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let _listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::from_env(&env(
            Some(path.to_str().unwrap()),
            Some("2000000"),
            Some("1"),
        ))
        .unwrap();
        assert_eq!(n.watchdog_interval(), None);
    }

    #[test]
    fn a_bad_watchdog_period_is_an_error() {
        let e = Notifier::from_env(&env(Some("/nonexistent"), Some("soon"), None)).unwrap_err();
        assert!(e.to_string().contains("WATCHDOG_USEC=soon"), "{e}");
    }
}
