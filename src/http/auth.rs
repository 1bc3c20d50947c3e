//! Bearer-token authentication of the admin API.
//!
//! With a token configured, every route but the open ones (`GET /healthz` and `GET /readyz`,
//! [`routes::Access::Open`]) needs exactly one
//! `Authorization: Bearer <token>` header; the presented token is compared
//! with [`AdminToken::matches`] (constant-time). Anything else is answered
//! 401 with `WWW-Authenticate: Bearer` and the JSON error shape. Neither the
//! configured nor the presented token is ever logged or echoed.
//!
//! The viewer token (`http.viewer_token_file`), when there is one, is read
//! only: it passes `GET` (and `HEAD`) requests, which change nothing, and a
//! request of any other method with it is answered 403 `forbidden`. It is
//! judged by the method, not a list of routes, so a route added later is
//! read-only for the viewer exactly when it is a `GET`.
//!
//! The dashboard's paths (`/ui…`) are let through: the dashboard signs its
//! browsers in itself, with a session cookie (`http/ui/session.rs`). A
//! browser asking for `GET /` (it accepts HTML) is redirected there.
//!
//! Without a token every request passes: the daemon allows that only on a
//! loopback address (see `Config::validate_for_serve`), and a viewer token
//! needs an admin token.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::Problem;
use super::routes;
use crate::config::AdminToken;

/// The tokens the admin API takes.
#[derive(Clone)]
pub(super) struct Tokens {
    /// May call every route; `None` lets every request in.
    pub admin: Option<AdminToken>,
    /// May call `GET` routes only.
    pub viewer: Option<AdminToken>,
}

/// The middleware: `axum::middleware::from_fn_with_state(tokens, require_token)`.
pub(super) async fn require_token(
    State(tokens): State<Tokens>,
    request: Request,
    next: Next,
) -> Response {
    // A browser at `/` is shown the dashboard, which signs it in.
    if super::ui::wants_dashboard(&request) {
        return axum::response::Redirect::to("/ui/").into_response();
    }
    let Some(admin) = &tokens.admin else {
        return next.run(request).await;
    };
    // The dashboard has its own sign-in (a session cookie, `http/ui`).
    if routes::is_open(request.uri().path()) || super::ui::is_ui_path(request.uri().path()) {
        return next.run(request).await;
    }
    match check(admin, tokens.viewer.as_ref(), &request) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            tracing::debug!(path = request.uri().path(), reason = %e.message, "refused an unauthenticated admin request");
            e.into_response()
        }
    }
}

fn check(
    token: &AdminToken,
    viewer: Option<&AdminToken>,
    request: &Request,
) -> Result<(), Problem> {
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
        return Ok(());
    }
    match viewer {
        Some(viewer) if viewer.matches(presented) => {
            if matches!(*request.method(), Method::GET | Method::HEAD) {
                Ok(())
            } else {
                Err(Problem::forbidden(
                    "the viewer token may read, not act: this request needs the admin token",
                ))
            }
        }
        _ => Err(Problem::unauthorized("the admin token is not valid")),
    }
}
