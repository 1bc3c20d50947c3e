//! A scripted fake upstream for the clients' wire tests: it records every
//! request (method, path, query, headers, body) and answers from a queue of
//! scripted replies.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// What the fake upstream saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    /// Decoded pairs, in the order they were sent.
    pub query: Vec<(String, String)>,
    /// The raw query string, to check how a cursor was encoded.
    pub raw_query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A scripted answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

pub fn reply(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        headers: vec![],
        body: body.into(),
        delay: Duration::ZERO,
    }
}

impl Reply {
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn with_retry_after(mut self, value: &str) -> Self {
        self.headers.push(("retry-after", value.into()));
        self
    }
}

/// A JSON answer with the content type a real API sends.
pub fn ok(body: Value) -> Reply {
    let mut r = reply(200, body.to_string());
    r.headers
        .push(("content-type", "application/json; charset=utf-8".into()));
    r
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

pub struct Upstream {
    script: Arc<Script>,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Self {
        let script = Arc::new(Script::default());
        let s = script.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move {
                    let query = uri
                        .query()
                        .map(|q| serde_urlencoded::from_str(q).unwrap())
                        .unwrap_or_default();
                    s.seen.lock().unwrap().push(Seen {
                        method,
                        path: uri.path().to_string(),
                        query,
                        raw_query: uri.query().map(str::to_string),
                        headers,
                        body,
                    });
                    let next = s.replies.lock().unwrap().pop_front();
                    let r = next.unwrap_or_else(|| reply(500, "no scripted reply"));
                    // A scripted slow answer: the delay is the scenario.
                    tokio::time::sleep(r.delay).await;
                    let mut resp: Response =
                        (StatusCode::from_u16(r.status).unwrap(), r.body).into_response();
                    for (k, v) in r.headers {
                        resp.headers_mut().insert(k, v.parse().unwrap());
                    }
                    resp
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Upstream {
            script,
            url,
            _server: server,
        }
    }

    pub fn then(&self, r: Reply) -> &Self {
        self.script.replies.lock().unwrap().push_back(r);
        self
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }
}

/// A loopback URL that refuses connections, and the socket that keeps it
/// so: bound to its port but not listening. Held, the port cannot go to
/// another test of this process (or to anything else) while the test
/// expects a refusal, as a port bound and let go could.
pub fn refusing_url() -> (tokio::net::TcpSocket, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}", socket.local_addr().unwrap());
    (socket, url)
}
