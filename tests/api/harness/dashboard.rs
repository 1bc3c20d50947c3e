//! A signed-in dashboard session over plain HTTP (no browser): what the
//! page tests of `/ui` use. The browser tests (`ui_browser.rs`) drive a
//! real Chromium instead.
//!
//! [`TestApp::ui_sign_in`] goes through the login page as a browser does
//! (the form's challenge, its cookie, the token), keeps the session cookie,
//! and reads the CSRF token off the first page. Redirects are not followed,
//! so a test sees each 303 and where it points.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};

use super::TestApp;

/// A browser's session, as cookies and the page's CSRF token.
pub struct UiSession {
    /// The daemon's URL.
    url: String,
    /// Does not follow redirects.
    http: reqwest::Client,
    /// `machinist_session=…`, sent with every request.
    cookie: String,
    /// The CSRF token the pages carry (`<meta name="csrf-token">`).
    pub csrf: String,
}

/// A page's answer.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The HTML (or CSV) as text.
    pub body: String,
}

impl Page {
    /// Where a redirect points (the `Location` header).
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// Panics with the body unless the status is `status`; the body.
    pub fn expect(&self, status: StatusCode) -> &str {
        assert_eq!(self.status, status, "{}", self.body);
        &self.body
    }
}

/// A client that does not follow redirects.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of `name="NAME" value="…"` (or `content`) in `html`.
pub fn attr_after(html: &str, marker: &str) -> Option<String> {
    let at = html.find(marker)? + marker.len();
    let rest = &html[at..];
    let start = rest.find(['"'])? + 1;
    let end = rest[start..].find('"')? + start;
    Some(rest[start..end].to_string())
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("machinist_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

impl TestApp {
    /// Signs in to the dashboard with `token` (the admin or the viewer
    /// token) as a browser would; panics if that fails.
    pub async fn ui_sign_in(&self, token: &str) -> UiSession {
        self.try_ui_sign_in(token)
            .await
            .unwrap_or_else(|page| panic!("sign-in failed: {} {}", page.status, page.body))
    }

    /// Signs in with `token`; the login page's answer when it refuses.
    pub async fn try_ui_sign_in(&self, token: &str) -> Result<UiSession, Page> {
        let http = no_redirects();
        let form = http.get(self.at("/ui/login")).send().await.unwrap();
        let login_cookie = form
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("machinist_login="))
            .map(|v| v.split(';').next().unwrap().to_string())
            .expect("the login page sets its challenge cookie");
        let html = form.text().await.unwrap();
        let challenge = attr_after(&html, "name=\"challenge\" value=").expect("a challenge field");
        let answer = http
            .post(self.at("/ui/login"))
            .header(COOKIE, login_cookie)
            .form(&[
                ("token", token),
                ("challenge", &challenge),
                ("next", "/ui/"),
            ])
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let headers = answer.headers().clone();
        let Some(cookie) = session_cookie(&headers) else {
            return Err(Page {
                status,
                headers,
                body: answer.text().await.unwrap(),
            });
        };
        let mut session = UiSession {
            url: self.url.clone(),
            http,
            cookie,
            csrf: String::new(),
        };
        let fleet = session.get("/ui/").await;
        session.csrf = attr_after(fleet.expect(StatusCode::OK), "name=\"csrf-token\" content=")
            .expect("every page carries the CSRF token");
        Ok(session)
    }
}

impl UiSession {
    /// The same browser's cookies sent to the daemon at `url` (another
    /// daemon of the database, or the one started after a restart).
    pub fn to(&self, url: &str) -> UiSession {
        UiSession {
            url: url.to_string(),
            http: self.http.clone(),
            cookie: self.cookie.clone(),
            csrf: self.csrf.clone(),
        }
    }

    /// `GET path` with the session.
    pub async fn get(&self, path: &str) -> Page {
        let answer = self
            .http
            .get(format!("{}{path}", self.url))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        page(answer).await
    }

    /// `POST path` with the session, the form `fields` and the CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// `POST path` with the session and exactly `fields` (no CSRF token
    /// unless given).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let answer = self
            .http
            .post(format!("{}{path}", self.url))
            .header(COOKIE, &self.cookie)
            .form(fields)
            .send()
            .await
            .unwrap();
        page(answer).await
    }
}

async fn page(answer: reqwest::Response) -> Page {
    Page {
        status: answer.status(),
        headers: answer.headers().clone(),
        body: answer.text().await.unwrap(),
    }
}
