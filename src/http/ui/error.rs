//! What can go wrong on a dashboard page, and the page that says so.
//!
//! Every refusal is an HTML page with the status the JSON API would give,
//! in the dashboard's words (a button, a sign-in), never a JSON body:
//! `json_errors` in `http/mod.rs` leaves HTML answers alone.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::page;
use crate::http::error::Problem;
use crate::store::StoreError;

/// Why a dashboard request was not served.
#[derive(Debug, thiserror::Error)]
pub(in crate::http) enum UiError {
    /// No valid session: the browser is sent to the login page, which
    /// brings it back to `next` afterwards.
    #[error("sign in first")]
    SignIn {
        /// The page asked for (a path under `/ui`).
        next: String,
    },
    /// A viewer pressed a button that acts.
    #[error(
        "signed in with the viewer token, which may look but not act: sign in with the admin token to do this"
    )]
    ReadOnly,
    /// A post without this session's CSRF token (a stale page, or a form
    /// of another site).
    #[error(
        "this form is out of date or did not come from this dashboard: reload the page and try again"
    )]
    Csrf,
    /// Anything the API would refuse, with its status and message.
    #[error("{}", .0.message)]
    Problem(#[from] Problem),
}

impl From<StoreError> for UiError {
    fn from(e: StoreError) -> Self {
        UiError::Problem(Problem::from(e))
    }
}

impl UiError {
    /// A 404 naming what is missing.
    pub(in crate::http) fn not_found(what: impl Into<String>) -> Self {
        UiError::Problem(Problem::not_found(what))
    }

    /// A 400 naming the bad input.
    pub(in crate::http) fn bad_input(message: impl Into<String>) -> Self {
        UiError::Problem(Problem::bad_request(message))
    }

    fn status(&self) -> StatusCode {
        match self {
            UiError::SignIn { .. } => StatusCode::SEE_OTHER,
            UiError::ReadOnly | UiError::Csrf => StatusCode::FORBIDDEN,
            UiError::Problem(p) => p.status,
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        if let UiError::SignIn { next } = &self {
            let mut to = String::from("/ui/login");
            if next != "/ui" && next != "/ui/" {
                to.push_str("?next=");
                to.push_str(&page::urlencode(next));
            }
            return Redirect::to(&to).into_response();
        }
        let status = self.status();
        let title = status.canonical_reason().unwrap_or("Error");
        let mut response = (status, page::bare(title, &self.to_string())).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// A dashboard handler's result.
pub(in crate::http) type UiResult<T> = Result<T, UiError>;
