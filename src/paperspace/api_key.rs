//! The Paperspace API key, kept out of every log line and error message.

use std::fmt;

/// A Paperspace API key.
///
/// It has no `Display`, and its `Debug` prints a mask, so that formatting a
/// client or a config never leaks it. Only [`ApiKey::expose`] gives the text,
/// and only the HTTP clients call it, to set the auth header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

/// A key that cannot be sent in an HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadApiKey {
    #[error(
        "the Paperspace API key is empty; set PAPERSPACE_API_KEY or point the config at a key file"
    )]
    Empty,
    #[error(
        "the Paperspace API key contains characters that cannot go in an HTTP header (a stray newline or control character?)"
    )]
    NotHeaderSafe,
}

impl ApiKey {
    /// Checks and wraps a key; surrounding whitespace (a key file's trailing newline) is trimmed.
    pub fn new(key: impl Into<String>) -> Result<Self, BadApiKey> {
        let key = key.into();
        let trimmed = key.trim();
        if trimmed.is_empty() {
            return Err(BadApiKey::Empty);
        }
        if !trimmed.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(BadApiKey::NotHeaderSafe);
        }
        Ok(ApiKey(trimmed.to_string()))
    }

    /// The key itself; for setting the auth header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_the_key() {
        let key = ApiKey::new("secret-key-123\n").unwrap();
        assert_eq!(key.expose(), "secret-key-123");
        assert_eq!(format!("{key:?}"), "ApiKey(****)");
        assert!(!format!("{:?}", Some(&key)).contains("secret"));
    }

    #[test]
    fn rejects_empty_and_unsafe_keys() {
        assert_eq!(ApiKey::new("  \n").unwrap_err(), BadApiKey::Empty);
        assert_eq!(ApiKey::new("ab cd").unwrap_err(), BadApiKey::NotHeaderSafe);
    }
}
