//! Free text people type (names, reasons, keys, selectors) and show later.
//!
//! What a client sends is shown again in tables, logs and terminals. A
//! character that moves the cursor, changes colours (`ESC [31m`), reorders
//! what follows (bidi overrides) or hides itself (zero-width) lets one client
//! make that text lie to the next person reading it. The API refuses such
//! characters in every free-text field ([`refused`]); the CLI, which also
//! prints text written before that rule or by other tools, shows any it meets
//! as `\u{..}` escapes ([`escape`]).
//!
//! It also holds the one way an error from a network library is shown: on
//! one line with its causes ([`error_chain`]), whether a Paperspace call or
//! a webhook delivery failed.

/// The characters refused in free text: C0 controls, DEL and C1 controls;
/// the Arabic letter mark; zero-width space, joiners and the directional
/// marks; the bidi embeddings and overrides; word joiner and invisible
/// operators; the bidi isolates; the byte order mark.
pub fn is_refused(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}

/// The first refused character of `s`, if any.
pub fn refused(s: &str) -> Option<char> {
    s.chars().find(|&c| is_refused(c))
}

/// `s` with every refused character written as a `\u{..}` escape (and a
/// backslash before `\u{` itself, so that an escape cannot be forged).
pub fn escape(s: &str) -> String {
    if refused(s).is_none() && !s.contains("\\u{") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if is_refused(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else if rest.starts_with("\\u{") {
            out.push('\\');
            out.push('\\');
            rest = &rest[1..];
            continue;
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// An error and its causes on one line, each cause once (reqwest's own
/// text stops at the top level, and some causes repeat their source's).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refused_set_is_exactly_the_listed_ranges() {
        let listed = [
            (0x00, 0x1f),
            (0x7f, 0x9f),
            (0x61c, 0x61c),
            (0x200b, 0x200f),
            (0x202a, 0x202e),
            (0x2060, 0x2064),
            (0x2066, 0x2069),
            (0xfeff, 0xfeff),
        ];
        for c in (0..0x1_0000u32).filter_map(char::from_u32) {
            let want = listed
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&(c as u32)));
            assert_eq!(is_refused(c), want, "U+{:04X}", c as u32);
        }
        assert_eq!(refused("caf\u{e9} \u{1F600}"), None);
        assert_eq!(refused("a\u{202e}b"), Some('\u{202e}'));
    }

    #[test]
    fn escapes_cannot_reach_the_terminal_or_be_forged() {
        assert_eq!(escape("plain naïve"), "plain naïve");
        assert_eq!(escape("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(escape("a\u{202e}b\u{200b}"), "a\\u{202e}b\\u{200b}");
        assert_eq!(escape("tab\there"), "tab\\u{9}here");
        assert_eq!(escape("\\u{1b}"), "\\\\u{1b}");
        assert_eq!(escape("back\\slash"), "back\\slash");
    }
}
