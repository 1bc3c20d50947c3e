//! Sending one HTTP request to a Paperspace API and classifying what came back.
//!
//! Shared by the backends: they differ in routes, auth header and wire
//! types, not in how a timeout, a 429 or an HTML error page is told apart.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;

use super::call_log;
use super::error::{ApiError, Call, body_prefix};
use crate::machine::ApiCallRecord;

/// A request's answer with a 2xx status.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status, always 2xx.
    pub status: u16,
    /// The response body as received, read with [`Answer::json`].
    pub body: bytes::Bytes,
    /// For error construction when decoding fails.
    pub call: Call,
}

impl Answer {
    /// Decodes the body as `T`; an empty or garbled body is [`ApiError::Malformed`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::Malformed {
                call: self.call,
                status: self.status,
                detail: "empty body".into(),
                prefix: String::new(),
            });
        }
        serde_json::from_slice(&self.body).map_err(|e| ApiError::Malformed {
            call: self.call,
            status: self.status,
            detail: e.to_string(),
            prefix: body_prefix(&self.body),
        })
    }
}

/// Sends `request`, times it, reports it to the call log and turns any
/// failure into an [`ApiError`].
pub async fn send(
    request: reqwest::RequestBuilder,
    call: Call,
    base_url: &str,
    timeout: Duration,
    machine_id: Option<&str>,
) -> Result<Answer, ApiError> {
    let started = Instant::now();
    let result = exchange(request, call, base_url, timeout).await;
    let latency = started.elapsed();
    let (status, error) = match &result {
        Ok(answer) => (Some(answer.status), None),
        Err(e) => (e.status(), Some(e.to_string())),
    };
    tracing::debug!(
        method = call.method,
        route = call.route,
        machine_id,
        status,
        latency_ms = latency.as_millis() as u64,
        error = error.as_deref(),
        "paperspace call"
    );
    call_log::report(ApiCallRecord {
        method: call.method.to_string(),
        route: call.route.to_string(),
        machine_id: machine_id.map(str::to_string),
        status,
        latency,
        error,
    });
    result
}

async fn exchange(
    request: reqwest::RequestBuilder,
    call: Call,
    base_url: &str,
    timeout: Duration,
) -> Result<Answer, ApiError> {
    let transport = |e: reqwest::Error| {
        if e.is_timeout() {
            ApiError::Timeout {
                call,
                after: timeout,
            }
        } else {
            ApiError::Connect {
                call,
                base_url: base_url.to_string(),
                detail: crate::text::error_chain(&e.without_url()),
            }
        }
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers(), Utc::now());
    let body = response.bytes().await.map_err(transport)?;
    if (200..300).contains(&status) {
        return Ok(Answer { status, body, call });
    }
    Err(ApiError::Status {
        call,
        status,
        code: error_code(&body),
        message: error_message(&body),
        retry_after,
    })
}

/// The API's own message from any error body shape both APIs use:
/// `{"error":{"message":…}}`, `{"error":"…"}`, `{"status":…,"message":…}`,
/// `{"code":…,"message":…}`. Otherwise a short prefix of the body.
pub fn error_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let found = value
            .pointer("/error/message")
            .or_else(|| value.get("error").filter(|e| e.is_string()))
            .or_else(|| value.get("message"))
            .and_then(|m| m.as_str());
        if let Some(message) = found.filter(|m| !m.trim().is_empty()) {
            return message.to_string();
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        "empty body".to_string()
    } else {
        format!(
            "no error message in the body; it began {:?}",
            body_prefix(body)
        )
    }
}

/// The v1 API's error `code` (`{"code":"NOT_FOUND",…}`), if the body has one.
pub fn error_code(body: &[u8]) -> Option<String> {
    let value = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    value
        .get("code")?
        .as_str()
        .filter(|c| !c.trim().is_empty())
        .map(str::to_string)
}

/// `Retry-After` as delay-seconds or an HTTP date; a date in the past is no delay.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn error_message_reads_every_shape() {
        let wrapped = br#"{"error":{"name":"Error","status":404,"message":"Machine not found"}}"#;
        assert_eq!(error_message(wrapped), "Machine not found");
        assert_eq!(
            error_message(br#"{"status":401,"message":"Invalid API token"}"#),
            "Invalid API token"
        );
        assert_eq!(
            error_message(br#"{"code":"NOT_FOUND","message":"nope"}"#),
            "nope"
        );
        assert_eq!(error_message(br#"{"error":"plain"}"#), "plain");
        assert_eq!(error_message(b""), "empty body");
        let html = error_message(b"<html><body>502 Bad Gateway</body></html>");
        assert!(html.contains("<html><body>502 Bad Gateway"), "{html}");
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h, now), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Thu, 01 Jan 2026 00:00:30 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 31 Dec 2025 23:00:00 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }
}
