//! `GET/POST /ui/login` and `POST /ui/logout`: a token in, a session
//! cookie out (see [`super::session`]).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::page;
use super::session::is_https;
use super::{AppState, NoFields, Posted, UiError, back_to};

/// `?next=` of the login page: where to go once signed in.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Next {
    next: Option<String>,
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct Login {
    /// The admin or viewer token, as typed or pasted.
    #[serde(default)]
    token: String,
    /// The double-submit value, equal to the login cookie's.
    #[serde(default)]
    challenge: String,
    /// Where to go once signed in.
    next: Option<String>,
}

/// `GET /ui/login`.
pub(super) async fn form(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(next): Query<Next>,
) -> Response {
    if !app.ui.sign_in_needed() {
        // No token configured (loopback only): nothing to sign in with.
        return Redirect::to("/ui/").into_response();
    }
    login_page(&app, &headers, next.next.as_deref(), None, StatusCode::OK)
}

fn login_page(
    app: &AppState,
    headers: &HeaderMap,
    next: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let (challenge, cookie) = app.ui.login_challenge(is_https(headers));
    let next = back_to(next, "/ui/");
    let body: Markup = html! {
        h1 { "Sign in to Machinist" }
        @if let Some(error) = error {
            p.error role="alert" { (error) }
        }
        form method="post" action="/ui/login" {
            input type="hidden" name="challenge" value=(challenge);
            input type="hidden" name="next" value=(next);
            label for="token" { "Admin or viewer token" }
            input #token type="password" name="token" autocomplete="current-password" required autofocus;
            p.muted {
                "The daemon's " code { "http.admin_token_file" } " (may act) or "
                code { "http.viewer_token_file" } " (may only look). "
                "The sign-in lasts " (humantime::format_duration(app.ui.ttl())) "."
            }
            button type="submit" { "Sign in" }
        }
    };
    let mut response = (status, page::bare_with("Sign in", body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `POST /ui/login`.
pub(super) async fn submit(
    State(app): State<AppState>,
    headers: HeaderMap,
    axum::Form(login): axum::Form<Login>,
) -> Response {
    if !app.ui.sign_in_needed() {
        return Redirect::to("/ui/").into_response();
    }
    if !app.ui.login_challenge_ok(&headers, &login.challenge) {
        return login_page(
            &app,
            &headers,
            login.next.as_deref(),
            Some("This sign-in form is out of date (or cookies are off): try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let Some(role) = app.ui.role_of(&login.token) else {
        tracing::info!(
            "refused a dashboard sign-in: the token is neither the admin nor the viewer token"
        );
        return login_page(
            &app,
            &headers,
            login.next.as_deref(),
            Some("That is neither the admin token nor the viewer token."),
            StatusCode::UNAUTHORIZED,
        );
    };
    let (_, cookie) = app.ui.start(role, app.http.clock.now(), is_https(&headers));
    tracing::info!(role = role.as_str(), "dashboard sign-in");
    let mut response = Redirect::to(&back_to(login.next.as_deref(), "/ui/")).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `POST /ui/logout`: any signed-in session (a viewer too) may sign out,
/// with its CSRF token so that another site cannot sign it out.
pub(super) async fn logout(
    State(app): State<AppState>,
    headers: HeaderMap,
    posted: Posted<NoFields>,
) -> Result<Response, UiError> {
    // Recorded before the cookie is cleared: a sign-out that could not be
    // recorded says so rather than leave a copied cookie working.
    let session = &posted.session;
    app.http
        .store
        .sign_out(&session.stored_id(), session.expires, app.http.clock.now())
        .await?;
    let cookie = app.ui.end(is_https(&headers));
    let mut response = Redirect::to("/ui/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}
