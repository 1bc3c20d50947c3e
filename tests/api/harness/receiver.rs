//! A webhook receiver in the test process: it records every delivery
//! (headers and body) and answers from a script (200 once the script is
//! empty), optionally holding an answer until the test lets go. Tests wait
//! for deliveries on its notification, never on a timer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::{Notify, Semaphore};

/// One delivery as received.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Delivered {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    /// The event type of a `standard` delivery.
    pub fn kind(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_string()
    }
}

/// A scripted answer.
#[derive(Clone)]
pub enum Script {
    /// Answer with this status, and these headers.
    Status(u16, Vec<(&'static str, &'static str)>),
    /// Hold the answer until [`Receiver::release`], then answer 200.
    Hold,
}

#[derive(Default)]
struct State {
    script: Mutex<VecDeque<Script>>,
    seen: Mutex<Vec<Delivered>>,
    arrived: Notify,
    /// Released holds; a held request takes one permit.
    gate: Option<Arc<Semaphore>>,
}

pub struct Receiver {
    state: Arc<State>,
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(State {
            gate: Some(Arc::new(Semaphore::new(0))),
            ..State::default()
        });
        let s = state.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move {
                s.seen.lock().unwrap().push(Delivered { headers, body });
                s.arrived.notify_waiters();
                let next = s.script.lock().unwrap().pop_front();
                let response: Response = match next {
                    Some(Script::Status(status, headers)) => {
                        let mut r = (StatusCode::from_u16(status).unwrap(), "scripted answer")
                            .into_response();
                        for (k, v) in headers {
                            r.headers_mut().insert(k, v.parse().unwrap());
                        }
                        r
                    }
                    Some(Script::Hold) => {
                        let gate = s.gate.clone().unwrap();
                        gate.acquire().await.unwrap().forget();
                        (StatusCode::OK, "released").into_response()
                    }
                    None => (StatusCode::OK, "thanks").into_response(),
                };
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            state,
            url,
            _server: server,
        }
    }

    /// Queues the next answers.
    pub fn then(&self, script: Script) -> &Self {
        self.state.script.lock().unwrap().push_back(script);
        self
    }

    /// Lets `n` held answers go.
    pub fn release(&self, n: usize) {
        self.state.gate.as_ref().unwrap().add_permits(n);
    }

    pub fn seen(&self) -> Vec<Delivered> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Waits until `ready` holds for what was received; panics after `within`.
    pub async fn until(
        &self,
        within: Duration,
        ready: impl Fn(&[Delivered]) -> bool,
    ) -> Vec<Delivered> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrived = self.state.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let seen = self.seen();
            if ready(&seen) {
                return seen;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                let kinds: Vec<String> = seen.iter().map(|d| d.kind()).collect();
                panic!("not within {within:?}; received {kinds:?}");
            }
        }
    }

    /// Waits for a delivery of event type `kind` and returns it.
    pub async fn event(&self, kind: &str) -> Delivered {
        let seen = self
            .until(Duration::from_secs(20), |s| {
                s.iter().any(|d| d.kind() == kind)
            })
            .await;
        seen.into_iter().find(|d| d.kind() == kind).unwrap()
    }
}
