//! Dashboard sign-in: who a browser is, proven by a signed cookie.
//!
//! The login page takes the admin token or the viewer token once and answers
//! with a session cookie, `machinist_session`, holding the [`Role`] it was
//! signed in as, when it expires, a random session id and an HMAC-SHA256 of
//! the three. Nothing is stored per session: a daemon checks a cookie with
//! its key alone, so sessions survive a restart. The key is derived from the
//! admin token, so a cookie cannot be made without knowing that token, and
//! changing the token signs every browser out. Without an admin token
//! (loopback only) nobody signs in: every browser acts as the admin, and
//! the key is random per process, used only for the CSRF tokens.
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no
//! other site's page sends it), `Path=/ui`, and `Secure` when the request
//! came over https through a proxy that says so (`X-Forwarded-Proto:
//! https`). It lasts `http.session_ttl`.
//!
//! Every form that acts carries a CSRF token: an HMAC of the session id
//! under the same key, so it needs no storage either and a page of one
//! session cannot be replayed in another. A post without it, or with
//! another session's, is refused with 403 and changes nothing. The login
//! form, before any session, carries a random value that must equal one in
//! a short-lived cookie of its own (a double submit).
//!
//! Signing out records the session in the store until its expiry (a hash
//! of its id, never the id: `Store::sign_out`), and every page checks it
//! there, so a copied cookie stops working at once on every daemon of the
//! database, and stays refused after a restart.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::config::AdminToken;

/// The session cookie's name.
const SESSION_COOKIE: &str = "machinist_session";
/// The login form's double-submit cookie's name.
const LOGIN_COOKIE: &str = "machinist_login";
type HmacSha256 = Hmac<Sha256>;

/// What a signed-in browser may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::http) enum Role {
    /// Signed in with the admin token (or no token is configured): may act.
    Admin,
    /// Signed in with the viewer token: may look, not act.
    Viewer,
}

impl Role {
    /// The role's word in the cookie and on the page.
    pub(in crate::http) fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// A signed-in browser, from a valid cookie.
#[derive(Debug, Clone)]
pub(in crate::http) struct Session {
    /// What it may do.
    pub role: Role,
    /// The session's random id (hex): what its CSRF token is made from and
    /// what signing out records (hashed: [`Session::stored_id`]).
    id: String,
    /// When the cookie stops working.
    pub expires: DateTime<Utc>,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// Whether anyone must sign in at all (false without an admin token):
    /// the page then offers no sign-out.
    pub signed_in: bool,
}

impl Session {
    /// Whether this session may act (start, stop, retry, pause…).
    pub(in crate::http) fn may_act(&self) -> bool {
        self.role == Role::Admin
    }

    /// What the store knows this session by when it is signed out: the
    /// SHA-256 of its id, in hex, so that the database holds nothing a
    /// cookie is made of.
    pub(in crate::http) fn stored_id(&self) -> String {
        hex(&Sha256::digest(self.id.as_bytes()))
    }
}

/// Why a cookie is not a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(in crate::http) enum NoSession {
    /// No cookie, or one that is not ours (a bad signature, a bad shape).
    #[error("not signed in")]
    Missing,
    /// A cookie that was ours but has run out or was signed out.
    #[error("the session has ended")]
    Ended,
}

/// The signing key and the tokens: one per router, shared by every request.
#[derive(Clone)]
pub(in crate::http) struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    /// Signs cookies and CSRF tokens.
    key: [u8; 32],
    /// The tokens a browser signs in with; `admin: None` means no sign-in.
    admin: Option<AdminToken>,
    viewer: Option<AdminToken>,
    /// How long a sign-in lasts.
    ttl: Duration,
}

impl Sessions {
    /// Sessions signed with a key derived from `admin` (random without one).
    pub(in crate::http) fn new(
        admin: Option<AdminToken>,
        viewer: Option<AdminToken>,
        ttl: Duration,
    ) -> Self {
        let key = match &admin {
            Some(token) => {
                let mut mac = HmacSha256::new_from_slice(token.expose().as_bytes())
                    .expect("HMAC takes a key of any length");
                mac.update(b"machinist dashboard sessions v1");
                mac.finalize().into_bytes().into()
            }
            None => rand::random(),
        };
        Sessions {
            inner: Arc::new(Inner {
                key,
                admin,
                viewer,
                ttl,
            }),
        }
    }

    /// How long a sign-in lasts (`http.session_ttl`).
    pub(in crate::http) fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// Whether a browser must sign in (an admin token is configured).
    pub(in crate::http) fn sign_in_needed(&self) -> bool {
        self.inner.admin.is_some()
    }

    /// The role a presented token signs in as, if it is one of ours.
    pub(in crate::http) fn role_of(&self, token: &str) -> Option<Role> {
        let token = token.trim().as_bytes();
        if self.inner.admin.as_ref()?.matches(token) {
            return Some(Role::Admin);
        }
        match &self.inner.viewer {
            Some(viewer) if viewer.matches(token) => Some(Role::Viewer),
            _ => None,
        }
    }

    /// The session of a request's cookie, if it is ours and has not
    /// expired; whether it was signed out is the store's to say
    /// ([`Session::stored_id`]). Without an admin token every request is an
    /// admin session (whose CSRF token still comes from a cookie, so a
    /// cross-site form cannot act).
    pub(in crate::http) fn session(
        &self,
        headers: &HeaderMap,
        now: DateTime<Utc>,
    ) -> Result<Session, NoSession> {
        let value = cookie(headers, SESSION_COOKIE).ok_or(NoSession::Missing)?;
        let mut parts = value.split('.');
        let (Some(role), Some(expires), Some(id), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(NoSession::Missing);
        };
        let payload = format!("session|{role}|{expires}|{id}");
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| NoSession::Missing)?;
        self.mac(payload.as_bytes())
            .verify_slice(&mac)
            .map_err(|_| NoSession::Missing)?;
        let role = Role::parse(role).ok_or(NoSession::Missing)?;
        let expires = expires
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .ok_or(NoSession::Missing)?;
        if expires <= now {
            return Err(NoSession::Ended);
        }
        // A session signed while there was no admin token is worth nothing
        // once there is one: the key differs, so the MAC check above fails.
        Ok(self.make(role, id.to_string(), expires))
    }

    /// A new session for `role`, starting `now`, with the `Set-Cookie`
    /// value that carries it.
    pub(in crate::http) fn start(
        &self,
        role: Role,
        now: DateTime<Utc>,
        secure: bool,
    ) -> (Session, String) {
        let id = hex(&rand::random::<[u8; 16]>());
        let ttl = chrono::Duration::from_std(self.inner.ttl).unwrap_or(chrono::Duration::hours(12));
        let expires = now + ttl;
        let payload = format!("session|{}|{}|{id}", role.as_str(), expires.timestamp());
        let mac = URL_SAFE_NO_PAD.encode(self.mac(payload.as_bytes()).finalize().into_bytes());
        let value = format!("{}.{}.{id}.{mac}", role.as_str(), expires.timestamp());
        let cookie = set_cookie(SESSION_COOKIE, &value, "/ui", Some(self.inner.ttl), secure);
        (self.make(role, id, expires), cookie)
    }

    /// The `Set-Cookie` value that clears the session cookie, for a
    /// sign-out (which the store records: `Store::sign_out`).
    pub(in crate::http) fn end(&self, secure: bool) -> String {
        set_cookie(SESSION_COOKIE, "", "/ui", Some(Duration::ZERO), secure)
    }

    /// The session every request has when no admin token is configured.
    pub(in crate::http) fn open_session(&self, now: DateTime<Utc>) -> Session {
        // One id for all: the CSRF token is then one per process, which is
        // enough to keep other sites' forms out (they cannot read it).
        let mut session = self.make(
            Role::Admin,
            "open".to_string(),
            now + chrono::Duration::days(1),
        );
        session.signed_in = false;
        session
    }

    /// Whether `presented` is `session`'s CSRF token.
    pub(in crate::http) fn csrf_ok(&self, session: &Session, presented: &str) -> bool {
        let Ok(mac) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
            return false;
        };
        self.mac(format!("csrf|{}", session.id).as_bytes())
            .verify_slice(&mac)
            .is_ok()
    }

    /// A fresh value for the login form and the `Set-Cookie` that pairs it.
    pub(in crate::http) fn login_challenge(&self, secure: bool) -> (String, String) {
        let value = hex(&rand::random::<[u8; 16]>());
        let cookie = set_cookie(
            LOGIN_COOKIE,
            &value,
            "/ui/login",
            Some(Duration::from_secs(3600)),
            secure,
        );
        (value, cookie)
    }

    /// Whether the login form's value matches its cookie.
    pub(in crate::http) fn login_challenge_ok(&self, headers: &HeaderMap, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        match cookie(headers, LOGIN_COOKIE) {
            Some(expected) if !expected.is_empty() => {
                expected.as_bytes().ct_eq(presented.as_bytes()).into()
            }
            _ => false,
        }
    }

    /// A signature of a notice shown after an action (`?notice=…&sig=…`),
    /// so that a link from elsewhere cannot put words on the dashboard.
    pub(in crate::http) fn sign_notice(&self, text: &str) -> String {
        URL_SAFE_NO_PAD.encode(
            self.mac(format!("notice|{text}").as_bytes())
                .finalize()
                .into_bytes(),
        )
    }

    /// Whether `sig` is [`Sessions::sign_notice`] of `text`.
    pub(in crate::http) fn notice_ok(&self, text: &str, sig: &str) -> bool {
        let Ok(mac) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        self.mac(format!("notice|{text}").as_bytes())
            .verify_slice(&mac)
            .is_ok()
    }

    fn make(&self, role: Role, id: String, expires: DateTime<Utc>) -> Session {
        let csrf = URL_SAFE_NO_PAD.encode(
            self.mac(format!("csrf|{id}").as_bytes())
                .finalize()
                .into_bytes(),
        );
        Session {
            role,
            id,
            expires,
            csrf,
            signed_in: true,
        }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.inner.key).expect("HMAC takes a 32-byte key");
        mac.update(payload);
        mac
    }
}

/// Whether the browser reached us over https (through a proxy that says so).
pub(in crate::http) fn is_https(headers: &HeaderMap) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .next()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
        });
    let forwarded = headers
        .get("forwarded")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    forwarded_proto || forwarded
}

/// A `Set-Cookie` header value.
fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<Duration>,
    secure: bool,
) -> String {
    let mut cookie = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The value of cookie `name` in the request, if there is exactly one.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == name
            {
                if found.is_some() {
                    // Two cookies of one name (one planted for another
                    // path?): trust neither.
                    return None;
                }
                found = Some(v);
            }
        }
    }
    found
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn sessions() -> Sessions {
        Sessions::new(
            Some(AdminToken::new("admin-token-123").unwrap()),
            Some(AdminToken::new("viewer-token-456").unwrap()),
            Duration::from_secs(3600),
        )
    }

    fn with_cookie(set_cookie: &str) -> HeaderMap {
        let pair = set_cookie.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(pair).unwrap());
        headers
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn tokens_sign_in_as_their_role() {
        let s = sessions();
        assert_eq!(s.role_of("admin-token-123"), Some(Role::Admin));
        assert_eq!(s.role_of("viewer-token-456\n"), Some(Role::Viewer));
        assert_eq!(s.role_of("nope"), None);
        assert_eq!(s.role_of(""), None);
    }

    #[test]
    fn a_cookie_round_trips_until_it_expires() {
        let s = sessions();
        let (session, cookie) = s.start(Role::Viewer, t0(), false);
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        assert!(!cookie.contains("Secure"));
        let back = s.session(&with_cookie(&cookie), t0()).unwrap();
        assert_eq!(back.role, Role::Viewer);
        assert_eq!(back.csrf, session.csrf);
        let later = t0() + chrono::Duration::seconds(3600);
        assert_eq!(
            s.session(&with_cookie(&cookie), later).unwrap_err(),
            NoSession::Ended
        );
    }

    #[test]
    fn a_changed_cookie_is_no_session() {
        let s = sessions();
        let (_, cookie) = s.start(Role::Viewer, t0(), true);
        assert!(cookie.contains("; Secure"));
        let forged = cookie.replacen("viewer", "admin", 1);
        assert_eq!(
            s.session(&with_cookie(&forged), t0()).unwrap_err(),
            NoSession::Missing
        );
        // Another admin token's key does not know this cookie.
        let other = Sessions::new(
            Some(AdminToken::new("other").unwrap()),
            None,
            Duration::from_secs(60),
        );
        assert!(other.session(&with_cookie(&cookie), t0()).is_err());
    }

    #[test]
    fn csrf_and_the_stored_id_are_per_session() {
        let s = sessions();
        let (a, cookie) = s.start(Role::Admin, t0(), false);
        let (b, _) = s.start(Role::Admin, t0(), false);
        assert!(s.csrf_ok(&a, &a.csrf));
        assert!(!s.csrf_ok(&a, &b.csrf));
        assert!(!s.csrf_ok(&a, ""));
        // The store knows a session by a hash: the same for the cookie's
        // session, another for another, and never the id itself.
        let back = s.session(&with_cookie(&cookie), t0()).unwrap();
        assert_eq!(back.stored_id(), a.stored_id());
        assert_ne!(a.stored_id(), b.stored_id());
        assert_eq!(a.stored_id().len(), 64);
        assert!(!cookie.contains(&a.stored_id()));
        assert!(s.end(false).contains("Max-Age=0"));
    }

    #[test]
    fn two_cookies_of_one_name_are_trusted_by_neither() {
        let s = sessions();
        let (_, cookie) = s.start(Role::Admin, t0(), false);
        let pair = cookie.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_str(&format!("{pair}; {pair}")).unwrap(),
        );
        assert!(s.session(&headers, t0()).is_err());
    }

    #[test]
    fn https_is_seen_through_a_proxy() {
        let mut headers = HeaderMap::new();
        assert!(!is_https(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(is_https(&headers));
    }
}
