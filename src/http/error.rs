//! The one error shape of the admin API.
//!
//! Every error, whatever produced it (a handler, the auth layer, the body
//! limit, an unknown route, a timeout, a panic), reaches the client as
//!
//! ```json
//! {"error": {"code": "not_found", "message": "no job 42", "field": null}}
//! ```
//!
//! `code` is machine-readable and stable (see [`Problem`]'s constructors for
//! the list and their statuses), `message` is for people, and `field` names
//! the offending input (`machine_id`, `args.disk_size_gb`, `cursor`, `id`)
//! when one is to blame.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::job::SpecError;
use crate::store::StoreError;

/// An error answer: a status, a code, a message and maybe a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub(crate) struct Problem {
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// Machine-readable and stable: `not_found`, `conflict`, `invalid_job`, …
    pub code: &'static str,
    /// For people: what went wrong and, where it helps, what to do.
    pub message: String,
    /// The offending input, when one is to blame.
    pub field: Option<String>,
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The one key of every error answer.
    pub error: ErrorDetail,
}

/// What went wrong, inside [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable and stable: `not_found`, `conflict`, `invalid_job`, …
    pub code: String,
    /// For people.
    pub message: String,
    /// Always present in the JSON, `null` when no single field is to blame.
    pub field: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Problem {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Names the offending field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 `bad_request`: malformed input (JSON syntax, types, unknown or
    /// missing fields, bad query parameters, path ids, cursors).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 400 `bad_request` naming `field`.
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem::bad_request(message).with_field(field)
    }

    /// 401 `unauthorized` (the response also carries `WWW-Authenticate: Bearer`).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403 `forbidden`: a valid token that may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        )
    }

    /// 409 `conflict`: the job is not in a state that allows the action.
    pub fn conflict(message: impl Into<String>) -> Self {
        Problem::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(limit: usize) -> Self {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    /// 422 `invalid_job`: well-formed JSON that is not a valid job
    /// (unknown kind, missing machine id, bad wait, bad arguments, …).
    pub fn invalid_job(e: SpecError) -> Self {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_job", e.message).with_field(e.field)
    }

    /// 408 `request_timeout`: the request body did not arrive in time.
    pub fn request_timeout(after: std::time::Duration) -> Self {
        Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {}; send it whole, and a Content-Length that matches it",
                humantime::format_duration(after)
            ),
        )
    }

    /// 503 `timeout`: the request took longer than the configured timeout.
    pub fn timeout(after: std::time::Duration) -> Self {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than {}; it may or may not have taken effect \
                 (resubmit with the same idempotency_key to be sure)",
                humantime::format_duration(after)
            ),
        )
    }

    /// 503 `unavailable`: the store failed or is shutting down.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500 `internal`: a bug (a handler panicked); never caused by input on purpose.
    pub fn internal(message: impl Into<String>) -> Self {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
                field: self.field.clone(),
            },
        }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        // A write refused for what it asked (a dependency on a job the store
        // does not hold) is the request's fault, named by its field.
        if let StoreError::Refused(refused) = e {
            return Problem::invalid_job(refused);
        }
        // Store errors name files and SQL problems, never secrets. A lost
        // database file was logged once, as an error, when the store found it.
        if !matches!(e, StoreError::Lost { .. }) {
            tracing::warn!(error = %e, "store error answering an admin request");
        }
        Problem::unavailable(e.to_string())
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"machinist\""),
            );
        }
        response
    }
}

/// The code used for a status when something other than a handler made the
/// error (the JSON safety net in [`super::router`]).
pub(crate) fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_job",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    }
}
