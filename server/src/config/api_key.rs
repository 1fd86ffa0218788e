//! The server API's key (PROTOCOL.md section 11): what other processes
//! present in `X-Mizan-Api-Key` to publish and invalidate over HTTP.

use serde::{Deserialize, Deserializer, Serialize};
use subtle::ConstantTimeEq;

/// The shortest key that is not reported as weak.
pub(crate) const MIN_API_KEY_CHARS: usize = 16;

/// The key of the HTTP server API (`POST {base}/server/publish`,
/// `POST {base}/server/invalidate`). It never shows in `Debug` output
/// (`ServerConfig` is often logged), and comparing it takes the same time
/// however much of a guess is right.
///
/// In settings: `api_key = "…"` or `MIZAN_API_KEY`, read as written (a key
/// of digits stays text). An empty key is no key: the API is off.
///
/// ```
/// use mizan_server::ServerConfig;
/// let mut config = ServerConfig::default();
/// assert!(config.api_key.is_none());
/// config.api_key = Some("k3y-of-at-least-16-chars".into());
/// let key = config.api_key.as_ref().unwrap();
/// assert!(key.matches(b"k3y-of-at-least-16-chars") && !key.matches(b"k3y"));
/// assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
/// ```
#[derive(Clone, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// Whether `presented` is this key, compared in constant time (only
    /// the length may show: a key's length is no secret). An empty key
    /// matches nothing.
    pub fn matches(&self, presented: &[u8]) -> bool {
        !self.0.is_empty() && bool::from(self.0.as_bytes().ct_eq(presented))
    }

    /// Why this key is unsafe in production, if it is.
    pub(crate) fn weakness(&self) -> Option<String> {
        let chars = self.0.chars().count();
        (chars < MIN_API_KEY_CHARS).then(|| {
            format!("the server API key is {chars} characters long; use at least {MIN_API_KEY_CHARS} random characters")
        })
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self(key.to_owned())
    }
}

/// Two keys are compared like a presented one: in constant time.
impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A secret setting (`api_key`, `cache_secret`), where `""` is none.
pub(super) fn optional<'de, D: Deserializer<'de>, T: From<String>>(d: D) -> Result<Option<T>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()).map(T::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_key_is_weak_and_a_long_one_is_not() {
        assert!(
            ApiKey::new("fixture-api-key")
                .weakness()
                .unwrap()
                .contains("15 characters")
        );
        assert!(ApiKey::new("ééééééééééééééé").weakness().is_some());
        assert_eq!(ApiKey::new("0123456789abcdef").weakness(), None);
    }

    #[test]
    fn matching_is_exact() {
        let key = ApiKey::new("0123456789abcdef");
        assert!(key.matches(b"0123456789abcdef"));
        assert!(!key.matches(b"0123456789abcde"));
        assert!(!key.matches(b"0123456789abcdeF"));
        assert!(!key.matches(b"0123456789abcdef0"));
        assert!(!ApiKey::new("").matches(b""));
    }
}
