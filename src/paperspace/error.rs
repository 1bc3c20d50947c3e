//! The one error type of every Paperspace call, and its classification.
//!
//! Callers branch on [`ApiError::class`]: a transient error is worth trying
//! again (after [`ApiError::retry_after`] when the API said so), a permanent one
//! is not. The API key is never part of any of these values.

use std::fmt;
use std::time::Duration;

/// Whether an error is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Connect errors, timeouts, 5xx, 408, 429, a garbled answer: retry later.
    Transient,
    /// 400, 401, 403, 404, 422 and other 4xx, or bad arguments: retrying cannot help.
    Permanent,
}

/// Which call failed: method and route template, e.g. `POST /machines/:machineId/start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// HTTP method, e.g. `GET`.
    pub method: &'static str,
    /// The route template, not the filled-in path, so it is safe to log and to aggregate.
    pub route: &'static str,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.route)
    }
}

/// How many characters of an unexpected body an error quotes.
pub const BODY_PREFIX_CHARS: usize = 120;

/// A failed Paperspace call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// The request never got an answer: DNS, refused connection, reset.
    #[error("{call}: could not reach Paperspace at {base_url}: {detail}")]
    Connect {
        /// The call that failed.
        call: Call,
        /// The backend's base URL, to tell which host was unreachable.
        base_url: String,
        /// The HTTP client's error chain, without the request URL.
        detail: String,
    },

    /// No answer within the client's request timeout.
    #[error("{call}: no answer within {}s (request timeout)", after.as_secs_f64())]
    Timeout { call: Call, after: Duration },

    /// The API answered with a non-2xx status and (usually) its own message.
    #[error("{call}: Paperspace answered {status}{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Status {
        /// The call that failed.
        call: Call,
        /// The HTTP status of the answer.
        status: u16,
        /// The v1 API's error `code` (`NOT_FOUND`, `TOO_MANY_REQUESTS`, …);
        /// it decides the class when known. Legacy bodies carry none.
        code: Option<String>,
        /// The API's own message, or a short prefix of the body when it had none.
        message: String,
        /// From a `Retry-After` header (429 and 503 usually).
        retry_after: Option<Duration>,
    },

    /// The answer could not be read as the JSON the route returns: an empty
    /// body, truncated JSON, an HTML error page behind a 2xx.
    #[error(
        "{call}: Paperspace answered {status} with a body that is not the expected JSON ({detail}); it began {prefix:?}"
    )]
    Malformed {
        /// The call that failed.
        call: Call,
        /// The 2xx status of the answer that could not be read.
        status: u16,
        /// What the JSON decoder objected to, or `empty body`.
        detail: String,
        /// At most `BODY_PREFIX_CHARS` (120) characters of what came back.
        prefix: String,
    },

    /// Arguments refused before any request was sent.
    #[error("invalid `{field}`: {message}")]
    Invalid {
        /// The argument refused, by its field name, e.g. `auto_snapshot_frequency`.
        field: &'static str,
        /// Why it was refused.
        message: String,
    },

    /// The operation does not exist on this backend.
    #[error("{operation} is not supported by the {backend} Paperspace API: {hint}")]
    Unsupported {
        /// The operation asked for, e.g. `utilization`.
        operation: &'static str,
        /// The backend that lacks it: `legacy` or `v1`.
        backend: &'static str,
        /// What to do instead, for the operator.
        hint: &'static str,
    },
}

impl ApiError {
    /// Transient or permanent; see [`ErrorClass`].
    pub fn class(&self) -> ErrorClass {
        match self {
            ApiError::Connect { .. } | ApiError::Timeout { .. } | ApiError::Malformed { .. } => {
                ErrorClass::Transient
            }
            ApiError::Status { status, code, .. } => code
                .as_deref()
                .and_then(classify_code)
                .unwrap_or_else(|| classify_status(*status)),
            ApiError::Invalid { .. } | ApiError::Unsupported { .. } => ErrorClass::Permanent,
        }
    }

    /// True for [`ErrorClass::Transient`].
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// The delay the API asked for, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } | ApiError::Malformed { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when Paperspace said the thing does not exist (404).
    pub fn is_not_found(&self) -> bool {
        match self {
            ApiError::Status { status, code, .. } => match code.as_deref() {
                Some(code) if classify_code(code).is_some() => code == "NOT_FOUND",
                _ => *status == 404,
            },
            _ => false,
        }
    }

    /// True when the request may have reached Paperspace and been acted on
    /// although no answer says so (a timeout, a dropped connection, a garbled
    /// answer). A non-idempotent call must check before it asks again.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            ApiError::Timeout { .. } | ApiError::Malformed { .. } => true,
            // A refused connection never reached the server; a reset might have.
            ApiError::Connect { detail, .. } => !detail.contains("refused"),
            ApiError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// The class of an HTTP status.
pub fn classify_status(status: u16) -> ErrorClass {
    match status {
        408 | 429 => ErrorClass::Transient,
        500..=599 => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

/// The class of a v1 error `code`; `None` for a code this version does not
/// know, which then falls back to the HTTP status.
pub fn classify_code(code: &str) -> Option<ErrorClass> {
    match code {
        "TOO_MANY_REQUESTS" | "INTERNAL_SERVER_ERROR" | "TIMEOUT" | "CLIENT_CLOSED_REQUEST" => {
            Some(ErrorClass::Transient)
        }
        "BAD_REQUEST"
        | "UNAUTHORIZED"
        | "FORBIDDEN"
        | "NOT_FOUND"
        | "PARSE_ERROR"
        | "METHOD_NOT_SUPPORTED"
        | "CONFLICT"
        | "PRECONDITION_FAILED"
        | "PAYLOAD_TOO_LARGE" => Some(ErrorClass::Permanent),
        _ => None,
    }
}

/// The HTTP status the v1 API pairs with an error `code` (the official CLI's
/// table); used when an error body arrives with a status that says nothing.
pub fn code_status(code: &str) -> Option<u16> {
    Some(match code {
        "BAD_REQUEST" | "PARSE_ERROR" => 400,
        "UNAUTHORIZED" => 401,
        "FORBIDDEN" => 403,
        "NOT_FOUND" => 404,
        "METHOD_NOT_SUPPORTED" => 405,
        "TIMEOUT" => 408,
        "CONFLICT" => 409,
        "PRECONDITION_FAILED" => 412,
        "PAYLOAD_TOO_LARGE" => 413,
        "TOO_MANY_REQUESTS" => 429,
        "CLIENT_CLOSED_REQUEST" => 499,
        "INTERNAL_SERVER_ERROR" => 500,
        _ => return None,
    })
}

/// The first [`BODY_PREFIX_CHARS`] characters of a body, on one line, for an error message.
pub fn body_prefix(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(BODY_PREFIX_CHARS)
        .collect();
    if text.chars().count() > BODY_PREFIX_CHARS {
        out.push('…');
    }
    out
}

/// A machine (or event, or user) id, checked before it goes into a URL path,
/// where anything else could change the path. Shared by both clients.
pub(crate) fn check_id(field: &'static str, id: &str) -> Result<(), ApiError> {
    if crate::machine::is_paperspace_id(id) {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            field,
            message: format!(
                "`{}` is not a Paperspace id (letters, digits, `-` and `_`, at most 64)",
                id.chars().take(80).collect::<String>()
            ),
        })
    }
}

/// A required text argument.
pub(crate) fn check_not_empty(field: &'static str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        Err(ApiError::Invalid {
            field,
            message: "must not be empty".into(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: Call = Call {
        method: "POST",
        route: "/machines/:machineId/start",
    };

    fn status(code: u16) -> ApiError {
        ApiError::Status {
            call: CALL,
            status: code,
            code: None,
            message: "m".into(),
            retry_after: None,
        }
    }

    #[test]
    fn statuses_classify() {
        for code in [400, 401, 403, 404, 405, 409, 422] {
            assert_eq!(status(code).class(), ErrorClass::Permanent, "{code}");
        }
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(status(code).class(), ErrorClass::Transient, "{code}");
        }
        assert!(status(404).is_not_found());
        assert!(!status(400).is_not_found());
    }

    #[test]
    fn v1_codes_decide_the_class_over_the_status() {
        let coded = |status: u16, code: &str| ApiError::Status {
            call: CALL,
            status,
            code: Some(code.into()),
            message: "m".into(),
            retry_after: None,
        };
        for code in ["TOO_MANY_REQUESTS", "INTERNAL_SERVER_ERROR", "TIMEOUT"] {
            assert_eq!(coded(400, code).class(), ErrorClass::Transient, "{code}");
        }
        for code in ["BAD_REQUEST", "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND"] {
            assert_eq!(coded(500, code).class(), ErrorClass::Permanent, "{code}");
        }
        // An unknown code falls back to the status.
        assert_eq!(coded(503, "SOMETHING_NEW").class(), ErrorClass::Transient);
        assert!(coded(400, "NOT_FOUND").is_not_found());
        assert!(!coded(404, "BAD_REQUEST").is_not_found());
        assert_eq!(
            coded(404, "NOT_FOUND").to_string(),
            "POST /machines/:machineId/start: Paperspace answered 404 NOT_FOUND: m"
        );
        assert_eq!(code_status("TOO_MANY_REQUESTS"), Some(429));
    }

    #[test]
    fn body_prefix_is_short_and_one_line() {
        let html = format!("<html>\n<body>{}</body></html>", "x".repeat(500));
        let p = body_prefix(html.as_bytes());
        assert!(p.starts_with("<html> <body>"));
        assert_eq!(p.chars().count(), BODY_PREFIX_CHARS + 1);
        assert_eq!(body_prefix(b""), "");
    }

    #[test]
    fn messages_name_the_call() {
        let e = ApiError::Timeout {
            call: CALL,
            after: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "POST /machines/:machineId/start: no answer within 1.5s (request timeout)"
        );
        assert!(e.is_ambiguous());
    }
}
