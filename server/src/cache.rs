//! The bundle cache (PROTOCOL.md section 12), in memory on one node: what
//! context functions returned, kept by key, bounded by bytes, each value
//! tied to the context stream's position it reflects.
//!
//! - **Keys** are an HMAC-SHA256, under a secret of the node's own, of the
//!   context, its params in canonical form and, for a per-user context, the
//!   user: one user's bundle is never another's, and keys say nothing of
//!   what they hold.
//! - **Never stale.** A value is kept with the position read before it was
//!   computed, and served only while no entry after that position reaches
//!   its params (the rule of a re-watch's `unchanged`, section 9): an entry
//!   published before a request started makes the value unreachable for
//!   that request, so a computation that began before a mutation can never
//!   be served after the mutation's reply, even when it is stored after it.
//!   When the stream no longer keeps what came after a value (history
//!   expired, another epoch), the value is not served.
//! - **One computation at a time.** Requests for the same key while it is
//!   computed share one computation (`moka`'s `try_get_with`); a request
//!   checks the shared value against its own position like any hit.
//! - Only beside the in-memory broker's streams: a node sharing a stream
//!   store with other processes (Redis) does not cache yet, because its
//!   mirror of a stream may lag another node's reply by a pub/sub hop.
//!
//! ```text
//! bundle_cache_bytes = 67108864   # 0: no cache (the default)
//! ```

use hmac::{Hmac, Mac};
use mizan_protocol::{Payload, Position};
use sha2::Sha256;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A cache key: see the module docs.
type Key = [u8; 32];

/// A cached bundle and the position it reflects.
#[derive(Debug)]
pub(crate) struct Cached {
    pub(crate) position: Position,
    pub(crate) data: Payload,
}

/// The node's bundle cache.
pub(crate) struct BundleCache {
    entries: moka::future::Cache<Key, Arc<Cached>>,
    secret: [u8; 32],
    /// Served from the cache.
    hits: AtomicU64,
    /// Computed (a key absent, or its value no longer valid).
    misses: AtomicU64,
    /// Requests that shared another's computation and found its value too
    /// old for them (computed again).
    refused: AtomicU64,
}

impl BundleCache {
    /// A cache of at most `bytes` of bundles (keys and data).
    pub(crate) fn new(bytes: u64) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(bytes)
            .weigher(|_key: &Key, value: &Arc<Cached>| {
                u32::try_from(32 + value.data.get().len() + value.position.epoch.len() + 64).unwrap_or(u32::MAX)
            })
            .build();
        let mut secret = [0u8; 32];
        for chunk in secret.chunks_mut(8) {
            chunk.copy_from_slice(&fastrand::u64(..).to_le_bytes());
        }
        Self {
            entries,
            secret,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The key of `context`'s bundle for `params` (canonical JSON), and
    /// `user` for a per-user context.
    pub(crate) fn key(&self, context: &str, params: &str, user: Option<&str>) -> Key {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        for part in [context, params, user.unwrap_or("")] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part.as_bytes());
        }
        mac.update(&[u8::from(user.is_some())]);
        mac.finalize().into_bytes().into()
    }

    /// The value under `key`, when `valid` accepts its position; or the
    /// value `compute` makes (one computation for every concurrent request
    /// of the key), when `valid` accepts that. `None`: compute it outside
    /// the cache (a value too old even when fresh, or a failed computation
    /// whose error `compute` gives again).
    pub(crate) async fn get_or_compute<F, E>(
        &self,
        key: Key,
        valid: impl Fn(&Position) -> bool,
        compute: F,
    ) -> Result<Option<Payload>, Arc<E>>
    where
        F: Future<Output = Result<Arc<Cached>, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(hit) = self.entries.get(&key).await {
            if valid(&hit.position) {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(hit.data.clone()));
            }
            self.entries.invalidate(&key).await;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let value = self.entries.try_get_with(key, compute).await?;
        if valid(&value.position) {
            return Ok(Some(value.data.clone()));
        }
        // Shared a computation that began before an entry this request
        // must see: drop it, and compute afresh outside the cache.
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.entries.invalidate(&key).await;
        Ok(None)
    }

    /// `[hits, misses, refused, kept]`, for `/metrics`.
    pub(crate) fn counts(&self) -> [u64; 4] {
        let n = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        [
            n(&self.hits),
            n(&self.misses),
            n(&self.refused),
            self.entries.entry_count(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_every_part_and_on_the_node_secret() {
        let cache = BundleCache::new(1 << 20);
        let key = cache.key("user", r#"{"user_id":1}"#, None);
        assert_eq!(key, cache.key("user", r#"{"user_id":1}"#, None));
        assert_ne!(key, cache.key("user", r#"{"user_id":2}"#, None));
        assert_ne!(key, cache.key("other", r#"{"user_id":1}"#, None));
        assert_ne!(key, cache.key("user", r#"{"user_id":1}"#, Some("ann")));
        assert_ne!(cache.key("u", "x", Some("ann")), cache.key("u", "x", Some("bob")));
        // Parts cannot run into each other.
        assert_ne!(cache.key("ab", "c", None), cache.key("a", "bc", None));
        assert_ne!(cache.key("u", "x", Some("")), cache.key("u", "x", None));
        assert_ne!(key, BundleCache::new(1 << 20).key("user", r#"{"user_id":1}"#, None));
    }

    #[tokio::test]
    async fn values_are_served_while_valid_and_computed_again_after() {
        let cache = BundleCache::new(1 << 20);
        let key = cache.key("c", "{}", None);
        let at = |offset| Position::new("e", offset);
        let value = |offset, text: &str| {
            let data = Payload::from_value(&text).unwrap();
            async move {
                Ok::<_, ()>(Arc::new(Cached {
                    position: at(offset),
                    data,
                }))
            }
        };
        let first = cache.get_or_compute(key, |_| true, value(1, "one")).await.unwrap();
        assert_eq!(first.unwrap().get(), r#""one""#);
        let again = cache.get_or_compute(key, |_| true, value(2, "two")).await.unwrap();
        assert_eq!(again.unwrap().get(), r#""one""#, "a hit");
        // No longer valid: computed again.
        let newer = cache
            .get_or_compute(key, |p| p.offset >= 2, value(2, "two"))
            .await
            .unwrap();
        assert_eq!(newer.unwrap().get(), r#""two""#);
        // A fresh value already too old for this request: not served.
        let refused = cache
            .get_or_compute(key, |p| p.offset >= 5, value(3, "three"))
            .await
            .unwrap();
        assert!(refused.is_none());
        assert_eq!(cache.counts()[..3], [1, 3, 1]);
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_computation() {
        let cache = Arc::new(BundleCache::new(1 << 20));
        let key = cache.key("c", "{}", None);
        let runs = Arc::new(AtomicU64::new(0));
        let mut waiting = Vec::new();
        for _ in 0..50 {
            let (cache, runs) = (Arc::clone(&cache), Arc::clone(&runs));
            waiting.push(tokio::spawn(async move {
                let compute = async {
                    runs.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    let data = Payload::from_value(&1).unwrap();
                    Ok::<_, ()>(Arc::new(Cached {
                        position: Position::new("e", 0),
                        data,
                    }))
                };
                cache.get_or_compute(key, |_| true, compute).await.unwrap().unwrap()
            }));
        }
        for w in waiting {
            assert_eq!(w.await.unwrap().get(), "1");
        }
        assert_eq!(runs.load(Ordering::Relaxed), 1);
    }
}
