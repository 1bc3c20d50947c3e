//! The admin API's connections: accepted, timed and capped here, so that
//! slow or silent clients cannot hold the daemon's sockets.
//!
//! `axum::serve` puts no timeout on a connection itself: a client that sends
//! half a request head, or connects and says nothing, keeps its socket (and a
//! file descriptor) for as long as it likes, and enough of them leave none
//! for `/healthz`. [`serve`] runs hyper's HTTP/1 connections itself and
//! follows each through three phases:
//!
//! - **idle**, from the accept or the end of the previous answer: closed once
//!   no byte has moved either way for `idle_timeout`;
//! - **head**, from the first byte of a request: closed unless the whole head
//!   has arrived within `header_timeout` of that byte;
//! - **busy**, while a handler has the request: the router's own body and
//!   request timeouts apply ([`super::HttpLimits`]), the connection is left alone.
//!
//! At most `max_connections` are open. A new connection at the cap closes
//! the oldest one that is not busy (idle, or still sending its head), so a
//! flood of slow or silent connections cannot lock out a client that sends
//! its request promptly, and a request being handled is never cut off. When
//! every connection is busy the new one is closed at once. Accepting pauses
//! briefly when the process runs out of file descriptors, instead of spinning.
//!
//! On shutdown, accepting stops, idle connections close, and requests in
//! progress are answered before [`serve`] returns.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::HttpLimits;

/// Hyper answers a head with more headers than this itself (a plain 431);
/// the router answers more than [`super::MAX_HEADERS`] in the JSON shape.
const HYPER_MAX_HEADERS: usize = 2 * super::MAX_HEADERS;

/// Where a connection is in its request cycle.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No request in progress; `since` the last byte moved or answer given.
    Idle { since: Instant },
    /// A request head is arriving, its first byte at `since`.
    Head { since: Instant },
    /// A handler has the request.
    Busy,
}

/// One open connection, shared by its task, its IO and the accept loop.
struct Conn {
    /// Idle, reading a head, or busy: what the connection's timer enforces.
    phase: Mutex<Phase>,
    /// Wakes the connection's timer when the phase changes.
    changed: Notify,
    /// Cancelled to close the connection at once (to make room for a new one).
    evict: CancellationToken,
}

impl Conn {
    fn set(&self, phase: Phase) {
        *self.phase.lock().expect("connection phase lock") = phase;
        self.changed.notify_one();
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().expect("connection phase lock")
    }

    /// Bytes moved: the first byte of a request starts its head; any byte
    /// keeps an idle connection alive.
    fn moved(&self, read: bool) {
        let mut phase = self.phase.lock().expect("connection phase lock");
        if let Phase::Idle { .. } = *phase {
            let now = Instant::now();
            *phase = if read {
                Phase::Head { since: now }
            } else {
                Phase::Idle { since: now }
            };
            if read {
                drop(phase);
                self.changed.notify_one();
            }
        }
    }

    /// When the connection is to be closed if nothing changes, and why.
    fn deadline(&self, limits: &HttpLimits) -> Option<(Instant, &'static str)> {
        match self.phase() {
            Phase::Idle { since } => Some((since + limits.idle_timeout, "idle_timeout")),
            Phase::Head { since } => Some((since + limits.header_timeout, "header_timeout")),
            Phase::Busy => None,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled and every
/// request in progress is answered.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) {
    let max = limits.max_connections.max(1);
    if let Some(files) = open_file_limit()
        && max + DESCRIPTOR_HEADROOM > files
    {
        tracing::warn!(
            max_connections = max,
            open_file_limit = files,
            "http.max_connections leaves too few file descriptors for the database and Paperspace calls; \
             raise the open-file limit (LimitNOFILE=) or lower http.max_connections"
        );
    }
    let open: Arc<Mutex<BTreeMap<u64, Arc<Conn>>>> = Arc::default();
    // Each connection task holds a sender; when all are dropped, all are done.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let mut next_id: u64 = 0;
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if is_out_of_descriptors(&e) {
                        tracing::warn!(error = %e, open = open.lock().expect("open connections lock").len(),
                            "cannot accept admin API connections: out of file descriptors; raise LimitNOFILE or lower http.max_connections");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let conn = Arc::new(Conn {
            phase: Mutex::new(Phase::Idle {
                since: Instant::now(),
            }),
            changed: Notify::new(),
            evict: CancellationToken::new(),
        });
        {
            let mut open = open.lock().expect("open connections lock");
            if open.len() >= max {
                let oldest_waiting = open
                    .iter()
                    .find(|(_, c)| !matches!(c.phase(), Phase::Busy))
                    .map(|(id, _)| *id);
                match oldest_waiting.and_then(|id| open.remove(&id)) {
                    Some(victim) => victim.evict.cancel(),
                    None => {
                        tracing::debug!(
                            max,
                            "refused an admin API connection: every connection has a request in progress"
                        );
                        continue;
                    }
                }
            }
            next_id += 1;
            open.insert(next_id, conn.clone());
        }
        let id = next_id;
        let open = open.clone();
        let router = router.clone();
        let limits = limits.clone();
        let shutdown = shutdown.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            run(stream, conn, router, &limits, shutdown).await;
            open.lock().expect("open connections lock").remove(&id);
            drop(done);
        });
    }
    drop(done_tx);
    let _ = done_rx.recv().await;
}

/// Descriptors the rest of the daemon may need besides the admin API's
/// connections: the database and its WAL, Paperspace calls, logs.
const DESCRIPTOR_HEADROOM: usize = 256;

/// This process's soft limit on open files, where Linux says.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    // EMFILE (24) and ENFILE (23) on Linux; ENOBUFS/ENOMEM are as fatal for the moment.
    matches!(e.raw_os_error(), Some(23 | 24 | 105 | 12))
}

/// One connection, from accept to close.
async fn run(
    stream: TcpStream,
    conn: Arc<Conn>,
    router: Router,
    limits: &HttpLimits,
    shutdown: CancellationToken,
) {
    // Answers are small and written whole: do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(Watched {
        inner: stream,
        conn: conn.clone(),
    });
    let in_service = conn.clone();
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let conn = in_service.clone();
            conn.set(Phase::Busy);
            let answer = router.clone().oneshot(request.map(axum::body::Body::new));
            async move {
                let response = answer.await;
                conn.set(Phase::Idle {
                    since: Instant::now(),
                });
                response
            }
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // No hyper timer: the phases above time the connection. The header
    // count hyper allows is above the router's, which answers in JSON.
    builder.max_headers(HYPER_MAX_HEADERS);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        let deadline = conn.deadline(limits);
        let expiry = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "an admin API connection ended with an error");
                }
                return;
            }
            _ = conn.changed.notified() => {}
            _ = expiry => {
                // The phase may have moved on since the deadline was taken.
                if let Some((at, why)) = conn.deadline(limits)
                    && at <= Instant::now()
                {
                    tracing::debug!(timeout = why, "closed an admin API connection");
                    return;
                }
            }
            _ = conn.evict.cancelled() => {
                tracing::debug!("closed the oldest waiting admin API connection to make room for a new one");
                return;
            }
            _ = shutdown.cancelled(), if !draining => {
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}

/// A socket that tells its [`Conn`] when bytes move.
struct Watched {
    /// The socket itself.
    inner: TcpStream,
    /// Told of every byte moved, so that the idle timer restarts.
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.moved(true);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.moved(false);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.moved(false);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
