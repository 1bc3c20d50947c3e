//! The page every dashboard view is drawn in, and the small pieces the
//! views share: the navigation, the notice after an action, forms that
//! act (with their CSRF token, greyed out for a viewer), times and states.
//!
//! Pages are [maud] markup: every value spliced into it (`(value)`) is
//! HTML-escaped by maud, so names, reasons and errors, which users type,
//! show as text. Nothing here builds HTML from strings.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

use super::assets;
use super::session::{Session, Sessions};

/// The sections of the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::http) enum Nav {
    Fleet,
    Jobs,
    Schedules,
    Reports,
    Health,
}

impl Nav {
    const ALL: [Nav; 5] = [
        Nav::Fleet,
        Nav::Jobs,
        Nav::Schedules,
        Nav::Reports,
        Nav::Health,
    ];

    fn href(self) -> &'static str {
        match self {
            Nav::Fleet => "/ui/",
            Nav::Jobs => "/ui/jobs",
            Nav::Schedules => "/ui/schedules",
            Nav::Reports => "/ui/reports",
            Nav::Health => "/ui/health",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Nav::Fleet => "Fleet",
            Nav::Jobs => "Jobs",
            Nav::Schedules => "Schedules",
            Nav::Reports => "Reports",
            Nav::Health => "Health",
        }
    }
}

/// The `?notice=…&sig=…` a page is redirected to after an action.
#[derive(Debug, Default, Deserialize)]
pub(in crate::http) struct NoticeQuery {
    /// What was done, in words.
    pub notice: Option<String>,
    /// [`Sessions::sign_notice`] of it.
    pub sig: Option<String>,
}

/// The notice of a redirect after an action, if its signature holds.
pub(in crate::http) fn notice(sessions: &Sessions, query: &NoticeQuery) -> Option<String> {
    match (&query.notice, &query.sig) {
        (Some(text), Some(sig)) if sessions.notice_ok(text, sig) => Some(text.clone()),
        _ => None,
    }
}

/// `path` with a signed notice: where an action redirects (303) to.
pub(in crate::http) fn with_notice(sessions: &Sessions, path: &str, text: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!(
        "{path}{sep}notice={}&sig={}",
        urlencode(text),
        urlencode(&sessions.sign_notice(text))
    )
}

/// `s` as a value in a URL's query.
pub(in crate::http) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The `<head>`: the embedded stylesheet and scripts, no other origin.
fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        meta name="color-scheme" content="light dark";
        // htmx must not add inline styles or evaluate code: the page's
        // Content-Security-Policy allows neither.
        meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;
        title { (title) " · Machinist" }
        link rel="stylesheet" href=(assets::url("app.css"));
        link rel="icon" href=(assets::url("favicon.svg")) type="image/svg+xml";
        script src=(assets::url("htmx.min.js")) defer {}
        script src=(assets::url("app.js")) defer {}
    }
}

/// A whole dashboard page: navigation, the notice if any, then `body`.
pub(in crate::http) fn shell(
    title: &str,
    session: &Session,
    active: Nav,
    notice: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                (head(title))
                meta name="csrf-token" content=(session.csrf);
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/" { "Machinist" }
                    nav aria-label="Sections" {
                        ul {
                            @for nav in Nav::ALL {
                                li {
                                    a href=(nav.href()) aria-current=[(nav == active).then_some("page")] { (nav.label()) }
                                }
                            }
                        }
                    }
                    div.who {
                        span.role title="What this sign-in may do" {
                            @if session.may_act() { "admin" } @else { "viewer · read only" }
                        }
                        @if session.signed_in {
                            form method="post" action="/ui/logout" {
                                (csrf_field(session))
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main {
                    @if let Some(text) = notice {
                        p.notice role="status" { (text) }
                    }
                    (body)
                }
            }
        }
    }
}

/// A page without navigation: the login page, an error.
pub(in crate::http) fn bare(title: &str, message: &str) -> Markup {
    bare_with(
        title,
        html! {
            h1 { (title) }
            p { (message) }
            p { a href="/ui/" { "Back to the dashboard" } }
        },
    )
}

/// A page without navigation around `body`.
pub(in crate::http) fn bare_with(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body.bare {
                main #main { (body) }
            }
        }
    }
}

/// The hidden CSRF field every acting form carries.
pub(in crate::http) fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A one-button form that posts to `action`: disabled, with a reason, for a
/// viewer; with `confirm`, the browser asks first (`app.js`).
pub(in crate::http) fn button_form(
    session: &Session,
    action: &str,
    label: &str,
    confirm: Option<&str>,
    class: &str,
) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=[confirm] {
            (csrf_field(session))
            @if session.may_act() {
                button type="submit" class=(class) { (label) }
            } @else {
                button type="submit" class=(class) disabled title="The viewer token may look, not act" { (label) }
            }
        }
    }
}

/// An instant as UTC text, with how long ago (or ahead) it is.
pub(in crate::http) fn when(at: DateTime<Utc>, now: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339()) title=(at.format("%Y-%m-%d %H:%M:%S UTC")) {
            (at.format("%Y-%m-%d %H:%M UTC"))
            " "
            span.age { "(" (relative(at, now)) ")" }
        }
    }
}

/// `5m ago`, `in 3h`, `just now`.
pub(in crate::http) fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds();
    let (n, future) = (secs.unsigned_abs(), secs < 0);
    let amount = match n {
        0..=4 => return "just now".to_string(),
        5..=59 => format!("{n}s"),
        60..=3599 => format!("{}m", n / 60),
        3600..=86_399 => format!("{}h", n / 3600),
        _ => format!("{}d", n / 86_400),
    };
    if future {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A state as a coloured badge (its class is the state's own word).
pub(in crate::http) fn state(word: &str) -> Markup {
    html! { span class={ "state state-" (word.replace(|c: char| !c.is_ascii_alphanumeric(), "-")) } { (word) } }
}

/// Dollars, two decimals.
pub(in crate::http) fn money(amount: f64) -> String {
    if amount < 0.0 {
        format!("−${:.2}", -amount)
    } else {
        format!("${amount:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_ages_read_naturally() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let at = |s: i64| now - chrono::Duration::seconds(s);
        assert_eq!(relative(at(2), now), "just now");
        assert_eq!(relative(at(30), now), "30s ago");
        assert_eq!(relative(at(300), now), "5m ago");
        assert_eq!(relative(at(-7200), now), "in 2h");
        assert_eq!(relative(at(3 * 86_400), now), "3d ago");
    }

    #[test]
    fn states_are_escaped_class_words() {
        let html = state("<b>x").into_string();
        assert!(html.contains("&lt;b&gt;x"), "{html}");
        assert!(html.contains("state--b-x"), "{html}");
    }
}
