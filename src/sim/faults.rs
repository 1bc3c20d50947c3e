//! Injected misbehaviour: standing fault rates and one-shot faults.
//!
//! Faults strike the API routes, legacy and v1 alike (never `/_sim`), after the call was
//! counted and authenticated. One-shot faults queued with
//! [`Simulator::inject`](super::Simulator::inject) are consumed first, in
//! order; only when none matches the route do the standing rates of
//! [`FaultSpec`] roll their (seeded) dice.

use std::collections::VecDeque;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// How long a hang lasts when [`FaultSpec::hang_ms`] is 0: past any sane client timeout.
pub const DEFAULT_HANG_MS: u64 = 60_000;

/// Standing fault rates, applied to every legacy API request.
///
/// Rates are probabilities in `0.0..=1.0`; one seeded roll per request picks
/// at most one fault (error, else throttle, else hang), so the rates should
/// add up to at most 1. Half of the errors and hangs strike *after* the
/// operation was applied, as a gateway failure can, so a client cannot
/// assume that a 5xx means nothing happened.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultSpec {
    /// Chance of a 5xx: a wrapped-JSON 500, an HTML 502 page or a 503.
    pub error_rate: f64,
    /// Chance of a 429 with `Retry-After`.
    pub throttle_rate: f64,
    /// The `Retry-After` seconds of standing throttles.
    pub retry_after_secs: u64,
    /// Added to every request, faulted or not.
    pub latency_ms: u64,
    /// Chance that a request hangs for `hang_ms` before answering.
    pub hang_rate: f64,
    /// How long a hang lasts; 0 means [`DEFAULT_HANG_MS`].
    pub hang_ms: u64,
}

impl FaultSpec {
    /// Checks that every rate is a probability.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("throttle_rate", self.throttle_rate),
            ("hang_rate", self.hang_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1, not {rate}"));
            }
        }
        Ok(())
    }

    fn effective_hang_ms(&self) -> u64 {
        if self.hang_ms == 0 {
            DEFAULT_HANG_MS
        } else {
            self.hang_ms
        }
    }
}

/// What a fault does to the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answers `status`: 502 and 504 with an HTML gateway page, anything
    /// else with the wrapped JSON error body.
    Error {
        /// 400..=599; 500 if omitted.
        #[serde(default = "default_error_status")]
        status: u16,
    },
    /// Answers 429 with `Retry-After` and a flat JSON body.
    Throttle {
        /// The `Retry-After` header value.
        #[serde(default = "default_retry_after")]
        retry_after_secs: u64,
    },
    /// Sleeps `ms` before answering: with a 504 page if the operation was
    /// not applied, or with the real answer if it was (`after_apply`).
    Hang {
        /// How long to sleep.
        #[serde(default = "default_hang_ms")]
        ms: u64,
    },
    /// Answers `status` with `body` verbatim under `Content-Type:
    /// application/json`, for clients that must survive unparseable answers.
    Garbage {
        /// Raw body, e.g. a truncated JSON document.
        #[serde(default = "default_garbage_body")]
        body: String,
        /// 200 if omitted: the nastiest case, a success that cannot be read.
        #[serde(default = "default_garbage_status")]
        status: u16,
    },
}

fn default_error_status() -> u16 {
    500
}
fn default_retry_after() -> u64 {
    1
}
fn default_hang_ms() -> u64 {
    DEFAULT_HANG_MS
}
fn default_garbage_body() -> String {
    r#"{"id":"ps"#.to_string()
}
fn default_garbage_status() -> u16 {
    200
}

/// A fault for the next `count` matching requests, for deterministic tests.
///
/// JSON form (the kind's fields sit beside the others):
/// `{"kind":"error","status":502,"route":"POST /machines/:machineId/start","count":1,"after_apply":true}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OneShotFault {
    /// What happens to the response.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Route template such as `POST /machines/:machineId/start` (a trailing
    /// slash or `{machineId}` also match); `None` strikes any API route.
    #[serde(default)]
    pub route: Option<String>,
    /// How many matching requests it strikes; 1 if omitted.
    #[serde(default = "default_count")]
    pub count: u32,
    /// `true`: perform the operation, then answer with the fault — the
    /// ambiguous failure a non-idempotent create must survive.
    #[serde(default)]
    pub after_apply: bool,
}

fn default_count() -> u32 {
    1
}

impl OneShotFault {
    /// Checks statuses and the route's form; `known_routes` are the legacy
    /// route keys (`METHOD /path`).
    pub fn validate(&self, known_routes: &[String]) -> Result<(), String> {
        match &self.kind {
            FaultKind::Error { status } if !(400..=599).contains(status) => {
                return Err(format!("error status must be 400..=599, not {status}"));
            }
            FaultKind::Garbage { status, .. } if !(200..=599).contains(status) => {
                return Err(format!("garbage status must be 200..=599, not {status}"));
            }
            _ => {}
        }
        if self.count == 0 {
            return Err("count must be at least 1".to_string());
        }
        if let Some(route) = &self.route {
            let key = normalize_route(route);
            if !known_routes.contains(&key) {
                return Err(format!(
                    "unknown route `{route}`; expected one of: {}",
                    known_routes.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// The fault chosen for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Strike {
    /// What to answer.
    pub kind: FaultKind,
    /// Whether to run the operation first.
    pub after_apply: bool,
}

/// Fault state shared by all requests.
#[derive(Debug)]
pub struct Faults {
    /// The standing rates.
    spec: FaultSpec,
    /// Pending one-shot faults, oldest first.
    oneshots: VecDeque<OneShotFault>,
    /// Seeded apart from the account's RNG, so fault rolls never shift ids.
    rng: StdRng,
}

impl Faults {
    pub fn new(spec: FaultSpec, seed: u64) -> Self {
        Faults {
            spec,
            oneshots: VecDeque::new(),
            rng: StdRng::seed_from_u64(seed ^ 0x5eed_fa17),
        }
    }

    pub fn spec(&self) -> &FaultSpec {
        &self.spec
    }

    pub fn set_spec(&mut self, spec: FaultSpec) {
        self.spec = spec;
    }

    pub fn push(&mut self, fault: OneShotFault) {
        if fault.count > 0 {
            self.oneshots.push_back(fault);
        }
    }

    pub fn pending(&self) -> impl Iterator<Item = &OneShotFault> {
        self.oneshots.iter()
    }

    /// Drops the standing rates and every pending one-shot fault.
    pub fn clear(&mut self) {
        self.spec = FaultSpec::default();
        self.oneshots.clear();
    }

    /// Extra latency for every request.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.spec.latency_ms)
    }

    /// Picks the fault for a request to `route` (a normalized route key), if any.
    pub fn strike(&mut self, route: &str) -> Option<Strike> {
        let matching = self.oneshots.iter().position(|f| {
            f.route
                .as_deref()
                .is_none_or(|r| normalize_route(r) == route)
        });
        if let Some(i) = matching {
            let fault = &mut self.oneshots[i];
            let strike = Strike {
                kind: fault.kind.clone(),
                after_apply: fault.after_apply,
            };
            fault.count -= 1;
            if fault.count == 0 {
                self.oneshots.remove(i);
            }
            return Some(strike);
        }

        let spec = &self.spec;
        let roll: f64 = self.rng.random();
        let kind = if roll < spec.error_rate {
            let status = [500, 502, 503][self.rng.random_range(0..3usize)];
            FaultKind::Error { status }
        } else if roll < spec.error_rate + spec.throttle_rate {
            return Some(Strike {
                kind: FaultKind::Throttle {
                    retry_after_secs: spec.retry_after_secs,
                },
                after_apply: false,
            });
        } else if roll < spec.error_rate + spec.throttle_rate + spec.hang_rate {
            FaultKind::Hang {
                ms: spec.effective_hang_ms(),
            }
        } else {
            return None;
        };
        Some(Strike {
            kind,
            after_apply: self.rng.random_bool(0.5),
        })
    }
}

/// `POST /machines/{machineId}/start/` → `POST /machines/:machineId/start`.
pub fn normalize_route(route: &str) -> String {
    let (method, path) = route.trim().split_once(' ').unwrap_or(("", route));
    format!(
        "{} {}",
        method.to_ascii_uppercase(),
        normalize_path(path.trim())
    )
}

/// Trims a trailing slash and writes path parameters as `:name`.
pub fn normalize_path(path: &str) -> String {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!(":{name}"),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Which API's error shapes an answer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `{"error":{"name":"Error","status":N,"message":…}}`; a 429 is flat `{status, message}`.
    Legacy,
    /// `{"code":"NOT_FOUND","message":…}`.
    V1,
}

impl Dialect {
    /// An error answer in this dialect.
    pub fn error(self, status: StatusCode, message: &str) -> Response {
        match self {
            Dialect::Legacy => wrapped_error(status, message),
            Dialect::V1 => v1_error(status, message),
        }
    }
}

/// The tRPC-style code the v1 API pairs with a status (the official CLI's table).
pub fn v1_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_SUPPORTED",
        408 => "TIMEOUT",
        409 => "CONFLICT",
        412 => "PRECONDITION_FAILED",
        413 => "PAYLOAD_TOO_LARGE",
        429 => "TOO_MANY_REQUESTS",
        499 => "CLIENT_CLOSED_REQUEST",
        _ => "INTERNAL_SERVER_ERROR",
    }
}

/// The v1 error body: `{"code":"NOT_FOUND","message":"…"}`.
pub fn v1_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "code": v1_code(status), "message": message });
    (status, axum::Json(body)).into_response()
}

/// The legacy wrapped error body: `{"error":{"name":"Error","status":N,"message":"…"}}`.
pub fn wrapped_error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({
        "error": { "name": "Error", "status": status.as_u16(), "message": message }
    });
    (status, axum::Json(body)).into_response()
}

/// The answer for a fault that replaces the real one (everything but an
/// after-apply hang, which keeps the real answer), in `dialect`'s shapes.
pub fn response(kind: &FaultKind, dialect: Dialect) -> Response {
    match kind {
        FaultKind::Error { status } => error_response(*status, dialect),
        FaultKind::Throttle { retry_after_secs } => {
            let message = format!("Too many requests; retry after {retry_after_secs} seconds");
            let mut resp = match dialect {
                Dialect::Legacy => {
                    let body = serde_json::json!({ "status": 429, "message": message });
                    (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
                }
                Dialect::V1 => v1_error(StatusCode::TOO_MANY_REQUESTS, &message),
            };
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            resp
        }
        FaultKind::Hang { .. } => error_response(504, dialect),
        FaultKind::Garbage { body, status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::OK);
            (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                body.clone(),
            )
                .into_response()
        }
    }
}

fn error_response(status: u16, dialect: Dialect) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Error");
    if matches!(status.as_u16(), 502 | 504) {
        // What a reverse proxy in front of the API answers: HTML, not JSON.
        let page = format!(
            "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
            code = status.as_u16()
        );
        (status, [(header::CONTENT_TYPE, "text/html")], page).into_response()
    } else {
        dialect.error(status, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_normalize() {
        assert_eq!(
            normalize_route("post /machines/{machineId}/start/"),
            "POST /machines/:machineId/start"
        );
        assert_eq!(
            normalize_route("GET /machines/getMachines"),
            "GET /machines/getMachines"
        );
    }

    #[test]
    fn oneshots_come_first_in_order_then_rates() {
        let mut f = Faults::new(
            FaultSpec {
                throttle_rate: 1.0,
                retry_after_secs: 7,
                ..FaultSpec::default()
            },
            1,
        );
        f.push(OneShotFault {
            kind: FaultKind::Error { status: 503 },
            route: Some("POST /machines/:machineId/start".into()),
            count: 2,
            after_apply: true,
        });
        let route = "POST /machines/:machineId/start";
        for _ in 0..2 {
            let s = f.strike(route).unwrap();
            assert_eq!(s.kind, FaultKind::Error { status: 503 });
            assert!(s.after_apply);
        }
        let s = f.strike(route).unwrap();
        assert_eq!(
            s.kind,
            FaultKind::Throttle {
                retry_after_secs: 7
            }
        );
    }

    #[test]
    fn oneshot_json_is_flat() {
        let f: OneShotFault =
            serde_json::from_str(r#"{"kind":"throttle","retry_after_secs":3}"#).unwrap();
        assert_eq!(
            f.kind,
            FaultKind::Throttle {
                retry_after_secs: 3
            }
        );
        assert_eq!((f.count, f.after_apply, f.route), (1, false, None));
        assert!(serde_json::from_str::<OneShotFault>(r#"{"kind":"explode"}"#).is_err());
    }
}
