//! The bundle cache's settings (PROTOCOL.md section 12, docs/caching.md):
//! where bundles are kept, and the secret their keys are made with.

use serde::{Deserialize, Serialize};

/// The shortest cache secret that is not reported as weak, in bytes.
const MIN_SECRET_BYTES: usize = 32;

/// The secret nodes share when none is configured: fine for development,
/// announced loudly, refused in production.
pub(crate) const DEV_CACHE_SECRET: &str = "mizan-dev-cache-secret";

/// Where each node keeps cached bundles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BundleCacheBackend {
    /// In the node's memory only (the default).
    #[default]
    Memory,
    /// In the node's memory and in the broker's Redis, shared by every node
    /// (needs the Redis broker).
    Redis,
}

/// The secret the bundle cache's keys are an HMAC under. It never shows in
/// `Debug` output.
///
/// In settings: `cache_secret = "…"` or `MIZAN_CACHE_SECRET`. Nodes that
/// share a Redis cache must share it; an empty secret is no secret.
///
/// ```
/// use mizan_server::CacheSecret;
/// let secret = CacheSecret::new("32 random bytes, or more, in here");
/// assert_eq!(format!("{secret:?}"), "CacheSecret(<redacted>)");
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CacheSecret(String);

impl CacheSecret {
    /// A secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// Its bytes, for the HMAC.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Why this secret is unsafe in production, if it is.
    pub(crate) fn weakness(&self) -> Option<String> {
        if self.0 == DEV_CACHE_SECRET {
            return Some("the cache secret is the development default (set `cache_secret`)".to_owned());
        }
        let bytes = self.0.len();
        (bytes < MIN_SECRET_BYTES)
            .then(|| format!("the cache secret is {bytes} bytes long; use at least {MIN_SECRET_BYTES} random bytes"))
    }
}

impl From<String> for CacheSecret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl std::fmt::Debug for CacheSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_default_secrets_are_weak() {
        assert!(
            CacheSecret::new(DEV_CACHE_SECRET)
                .weakness()
                .unwrap()
                .contains("development")
        );
        assert!(CacheSecret::new("short").weakness().unwrap().contains("5 bytes"));
        assert_eq!(CacheSecret::new("x".repeat(32)).weakness(), None);
    }
}
