//! Bearer-token authentication of the admin API.
//!
//! With a token configured, every route but the open ones (`GET /healthz` and `GET /readyz`,
//! [`routes::Access::Open`]) needs exactly one
//! `Authorization: Bearer <token>` header; the presented token is compared
//! with [`AdminToken::matches`] (constant-time). Anything else is answered
//! 401 with `WWW-Authenticate: Bearer` and the JSON error shape. Neither the
//! configured nor the presented token is ever logged or echoed.
//!
//! Without a token every request passes: the daemon allows that only on a
//! loopback address (see `Config::validate_for_serve`).

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::Problem;
use super::routes;
use crate::config::AdminToken;

/// The middleware: `axum::middleware::from_fn_with_state(token, require_token)`.
pub(super) async fn require_token(
    State(token): State<Option<AdminToken>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token else {
        return next.run(request).await;
    };
    if routes::is_open(request.uri().path()) {
        return next.run(request).await;
    }
    match check(&token, &request) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            tracing::debug!(path = request.uri().path(), reason = %e.message, "refused an unauthenticated admin request");
            e.into_response()
        }
    }
}

fn check(token: &AdminToken, request: &Request) -> Result<(), Problem> {
    let mut values = request.headers().get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        let message = if request.headers().contains_key(AUTHORIZATION) {
            "send one Authorization header, not several"
        } else {
            "this route needs an `Authorization: Bearer <token>` header with the admin token"
        };
        return Err(Problem::unauthorized(message));
    };
    let bytes = value.as_bytes();
    // "Bearer" is case-insensitive (RFC 7235); one or more spaces follow it.
    let presented = match bytes.split_at_checked(6) {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case(b"bearer") && rest.first() == Some(&b' ') =>
        {
            rest.trim_ascii()
        }
        _ => {
            return Err(Problem::unauthorized(
                "the Authorization header must use the Bearer scheme: `Authorization: Bearer <token>`",
            ));
        }
    };
    if token.matches(presented) {
        Ok(())
    } else {
        Err(Problem::unauthorized("the admin token is not valid"))
    }
}
