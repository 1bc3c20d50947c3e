//! The web dashboard, served at `/ui` on the admin listener.
//!
//! Server-rendered HTML ([maud], which escapes every value it splices in)
//! with htmx for the live parts, and every asset embedded in the binary
//! ([`assets`]): no CDN, no build step, works offline. Each page reads
//! what the JSON API reads, from the same [`HttpState`](super::HttpState),
//! and each button does what the API route of the same name does, through
//! the same store calls, so the two cannot disagree.
//!
//! ## Who may do what
//!
//! The JSON API's Bearer check does not apply under `/ui`; the dashboard
//! has its own sign-in ([`session`]): the admin or viewer token, entered
//! once, becomes a signed session cookie. A page without a session
//! redirects to the login page. Every post must carry the session's CSRF
//! token (a hidden `csrf` field, or the `X-CSRF-Token` header htmx adds),
//! and only an admin session may post; a viewer sees every page with its
//! buttons greyed out, and a post is refused with 403 ([`Act`]).
//!
//! ## The pages
//!
//! | page | file |
//! | --- | --- |
//! | `GET/POST /ui/login`, `POST /ui/logout` | `login.rs` |
//! | `GET /ui/` the fleet (`?gone=1` with gone machines); `POST /ui/machines/{id}/start\|stop\|keep-on` | `fleet.rs` |
//! | `GET /ui/jobs` (filters, search, keyset pages), `/ui/jobs/table` (its live part), `/ui/jobs/{id}` and `/ui/jobs/{id}/live`; `POST /ui/jobs/{id}/retry\|cancel`, `POST /ui/jobs/bulk` | `jobs.rs` |
//! | `GET /ui/schedules` (schedules and windows), `/ui/schedules/{key}`, `/ui/schedules/new`, `/ui/schedules/{key}/edit`; `POST /ui/schedules` (create), `/ui/schedules/{key}` (replace), `/ui/schedules/preview`, `/ui/schedules/{key}/pause\|resume` | `schedules.rs` |
//! | `GET /ui/schedules/week` | `week.rs` |
//! | `GET /ui/windows/{key}`; `POST /ui/windows/{key}/pause\|resume`, `/ui/windows/{key}/overrides`, `/ui/windows/{key}/overrides/{id}/delete` | `windows.rs` |
//! | `GET /ui/reports?month=`, `/ui/reports/cost.csv?month=`; `POST /ui/reports/utilization/pull` | `reports.rs` |
//! | `GET /ui/health` (`?part=live`) | `health.rs` |
//! | `GET /ui/assets/{file}` | `assets.rs` |
//!
//! Every page answers `Cache-Control: no-store` and a Content-Security-Policy
//! that allows scripts, styles and requests from the daemon alone, no
//! inline script, and no framing.

mod assets;
mod chart;
mod error;
mod fleet;
mod health;
mod jobs;
mod login;
mod month_costs;
mod page;
mod reports;
mod schedules;
mod session;
mod week;
mod windows;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use tower_http::compression::CompressionLayer;

use super::AppState;
pub(super) use error::UiError;
pub(super) use month_costs::MonthCosts;
pub(super) use session::Sessions;
use session::{NoSession, Session};

/// Where the dashboard lives.
pub(super) const PREFIX: &str = "/ui";

/// Whether `path` is the dashboard's (which does its own sign-in).
pub(super) fn is_ui_path(path: &str) -> bool {
    path == PREFIX || path.starts_with("/ui/")
}

/// Whether a request for `GET /` comes from a browser (it accepts HTML):
/// it is then sent to the dashboard instead of the JSON index.
pub(super) fn wants_dashboard(request: &Request) -> bool {
    request.method() == Method::GET
        && request.uri().path() == "/"
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
}

/// The dashboard's routes, with their full paths (under [`PREFIX`]), to be
/// merged into the admin router. (Not nested: a nested router sees its
/// paths without the prefix, and `/ui/` would not be its own route.)
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(to_fleet))
        .route("/ui/", get(fleet::page))
        .route("/ui/login", get(login::form).post(login::submit))
        .route("/ui/logout", post(login::logout))
        .route("/ui/assets/{name}", get(assets::serve))
        .merge(fleet::routes())
        .merge(health::routes())
        .merge(jobs::routes())
        .merge(schedules::routes())
        .merge(windows::routes())
        .merge(week::routes())
        .merge(reports::routes())
        .layer(middleware::from_fn(page_headers))
        // Pages are HTML tables that shrink about tenfold (a 1,000-machine
        // fleet: 340 KB to 29 KB); gzip only, which every browser takes.
        .layer(CompressionLayer::new().gzip(true))
}

/// `/ui` itself: the fleet, at `/ui/`.
async fn to_fleet() -> Redirect {
    Redirect::to("/ui/")
}

/// A dashboard path that is no page: a 404 page, not the API's JSON.
pub(super) fn not_found(path: &str) -> Response {
    UiError::not_found(format!(
        "there is no dashboard page at {}",
        path.chars().take(200).collect::<String>()
    ))
    .into_response()
}

/// The headers of every dashboard answer: no caching of pages (they hold
/// a CSRF token and live data), and the Content-Security-Policy.
async fn page_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/ui/assets/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !is_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A page's reader: the signed-in session (any role), or a redirect to the
/// login page.
impl FromRequestParts<AppState> for Session {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, UiError> {
        let now = app.http.clock.now();
        if !app.ui.sign_in_needed() {
            return Ok(app.ui.open_session(now));
        }
        let sign_in = || UiError::SignIn {
            next: parts
                .uri
                .path_and_query()
                .map_or_else(|| PREFIX.to_string(), |p| p.as_str().to_string()),
        };
        match app.ui.session(&parts.headers, now) {
            // Signed out on any daemon of the database, or before a restart.
            Ok(session) if app.http.store.signed_out(&session.stored_id()).await? => Err(sign_in()),
            Ok(session) => Ok(session),
            Err(NoSession::Missing | NoSession::Ended) => Err(sign_in()),
        }
    }
}

/// A post from this dashboard: any signed-in session, its CSRF token (form
/// field `csrf` or header `X-CSRF-Token`), and the form `T` (urlencoded;
/// `csrf` is ignored by `T`'s fields). A missing or foreign token is 403.
/// Signing out takes this; everything that acts takes [`Act`].
pub(in crate::http) struct Posted<T> {
    /// Who posted.
    pub session: Session,
    /// What the form said.
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = UiError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, UiError> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, app).await?;
        let header_token = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = Bytes::from_request(Request::from_parts(parts, body), app)
            .await
            .map_err(|e| UiError::bad_input(format!("the form could not be read: {e}")))?;
        let field_token = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
        let presented = header_token.or(field_token).unwrap_or_default();
        if !app.ui.csrf_ok(&session, &presented) {
            return Err(UiError::Csrf);
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| UiError::bad_input(format!("the form is not valid: {e}")))?;
        Ok(Posted { session, form })
    }
}

/// A post that acts: a [`Posted`] form of an admin session. A viewer gets
/// 403 (after the CSRF check, so a forged post learns nothing more).
pub(in crate::http) struct Act<T> {
    /// Who acts.
    pub session: Session,
    /// What the form said.
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Act<T> {
    type Rejection = UiError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, UiError> {
        let Posted { session, form } = Posted::from_request(request, app).await?;
        if !session.may_act() {
            return Err(UiError::ReadOnly);
        }
        Ok(Act { session, form })
    }
}

/// A form with no fields but its CSRF token.
#[derive(Debug, serde::Deserialize)]
pub(in crate::http) struct NoFields {}

/// Where an action goes back to: the `back` field of its form when it is a
/// dashboard path, else `fallback`. Never another site (an open redirect).
pub(in crate::http) fn back_to(back: Option<&str>, fallback: &str) -> String {
    match back {
        Some(path) if is_ui_path(path) && !path.starts_with("//") && !path.contains('\\') => {
            path.to_string()
        }
        _ => fallback.to_string(),
    }
}

/// A 303 to `path` with a signed notice of what was done.
pub(in crate::http) fn done(app: &AppState, path: &str, text: &str) -> Response {
    Redirect::to(&page::with_notice(&app.ui, path, text)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dashboard_paths_are_ours() {
        assert!(is_ui_path("/ui") && is_ui_path("/ui/jobs"));
        assert!(!is_ui_path("/uix") && !is_ui_path("/v1/jobs"));
    }

    #[test]
    fn back_never_leaves_the_dashboard() {
        assert_eq!(
            back_to(Some("/ui/jobs?state=failed"), "/ui/"),
            "/ui/jobs?state=failed"
        );
        assert_eq!(back_to(Some("https://evil.example/"), "/ui/"), "/ui/");
        assert_eq!(back_to(Some("//evil.example/ui/"), "/ui/"), "/ui/");
        assert_eq!(back_to(None, "/ui/jobs"), "/ui/jobs");
    }
}
