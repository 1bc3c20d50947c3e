//! The dashboard's static files, embedded in the binary (`assets/ui/`):
//! the stylesheet, htmx and the page script. Nothing is fetched from
//! another origin, so the dashboard works offline and under
//! `ProtectSystem=strict`.
//!
//! `htmx.min.js` is htmx 2.0.11 (BSD Zero-Clause licence), unmodified, from
//! the npm package `htmx.org`.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "assets/ui/"]
struct Files;

/// The URL of an embedded file, with the daemon's version so that a
/// browser's long-cached copy is replaced after an upgrade.
pub(in crate::http) fn url(name: &str) -> String {
    format!("/ui/assets/{name}?v={}", env!("CARGO_PKG_VERSION"))
}

/// `GET /ui/assets/{name}`: open without a session (the login page needs
/// the stylesheet); they hold nothing secret.
pub(in crate::http) async fn serve(Path(name): Path<String>) -> Response {
    let Some(file) = Files::get(&name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mime = file.metadata.mimetype().to_string();
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_pages_name_is_embedded() {
        for name in ["app.css", "app.js", "htmx.min.js", "favicon.svg"] {
            assert!(Files::get(name).is_some(), "{name} is not embedded");
        }
    }
}
