//! The bundle cache (PROTOCOL.md section 12, `docs/caching.md`): what
//! context functions returned, kept by key in the node's memory (bounded by
//! bytes) and, with the Redis backend, in a store every node shares; each
//! value tied to the context stream's position it reflects.
//!
//! - **Keys** (`key.rs`) are an HMAC-SHA256 under the cache secret of the
//!   context, its slots' revisions, its params in canonical form and, for
//!   a per-user context, the user: one user's bundle is never another's,
//!   a `rev` bump makes old bundles unreachable, and keys say nothing of
//!   what they hold.
//! - **Never stale.** A value is kept with the position read before it was
//!   computed, and served only while the caller's validity check accepts
//!   it: no entry after that position reaches its params (the rule of a
//!   re-watch's `unchanged`, section 9), checked against the node's stream
//!   or, beside a stream store, against the store itself. An entry
//!   published before a request started makes the value unreachable for
//!   that request, so a computation that began before a mutation can never
//!   be served after the mutation's reply, even when it is stored after it.
//! - **One computation at a time** on each node: requests for the same key
//!   while it is computed share one computation (`moka`'s `try_get_with`);
//!   a request that waited checks the shared value like any hit.
//! - **A failing shared store is a miss**: counted, logged (at most every
//!   few seconds), and the bundle computed.
//!
//! ```text
//! bundle_cache_bytes = 67108864   # 0: no cache (the default)
//! bundle_cache_backend = "redis"  # "memory" (the default)
//! ```

mod key;
mod shared;

use crate::broker::bundles::BundleStore;
use crate::broker::store::StoreError;
use key::{Key, Keys};
use mizan_channels::Context;
use mizan_protocol::{Payload, Position};
use moka::ops::compute::Op;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// A cached bundle and the position it reflects.
#[derive(Debug)]
pub(crate) struct Cached {
    pub(crate) position: Position,
    pub(crate) data: Payload,
}

/// The cache's counters, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheCounts {
    /// Served from the node's memory (or from another request's
    /// computation it waited for).
    pub(crate) hits: u64,
    /// Served from the shared store (and kept in memory).
    pub(crate) shared_hits: u64,
    /// Computed (absent, or no longer valid).
    pub(crate) misses: u64,
    /// Requests that shared another's computation and found its value too
    /// old for them (computed again).
    pub(crate) refused: u64,
    /// Values the memory tier dropped for room or age.
    pub(crate) evicted: u64,
    /// Failed or timed-out reads and writes of the shared store or of the
    /// stream positions a hit is checked against (each a miss).
    pub(crate) errors: u64,
    /// Values in memory.
    pub(crate) entries: u64,
}

/// The node's bundle cache.
pub(crate) struct BundleCache {
    entries: moka::future::Cache<Key, Arc<Cached>>,
    keys: Keys,
    /// The shared tier, with the Redis backend.
    shared: Option<Arc<dyn BundleStore>>,
    ttl: Duration,
    hits: AtomicU64,
    shared_hits: AtomicU64,
    misses: AtomicU64,
    refused: AtomicU64,
    evicted: Arc<AtomicU64>,
    failures: Arc<shared::Failures>,
    /// Contexts whose stream lost an entry, until it is repaired: how many
    /// repairs are pending for each.
    suspended: dashmap::DashMap<String, usize>,
}

impl BundleCache {
    /// A cache of at most `bytes` of bundles (keys and data) in memory,
    /// each kept at most `ttl`, with keys under `secret` (`None`: a random
    /// one) and `shared` as its second tier.
    pub(crate) fn new(bytes: u64, ttl: Duration, secret: Option<&[u8]>, shared: Option<Arc<dyn BundleStore>>) -> Self {
        let evicted = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&evicted);
        let entries = moka::future::Cache::builder()
            .max_capacity(bytes)
            .time_to_live(ttl)
            .weigher(|_key: &Key, value: &Arc<Cached>| {
                u32::try_from(32 + value.data.get().len() + value.position.epoch.len() + 64).unwrap_or(u32::MAX)
            })
            .eviction_listener(move |_, _, cause| {
                if cause.was_evicted() {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Self {
            entries,
            keys: Keys::new(secret),
            shared,
            ttl,
            hits: AtomicU64::new(0),
            shared_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            evicted,
            failures: Arc::default(),
            suspended: dashmap::DashMap::new(),
        }
    }

    /// The key of `context`'s bundle for `params` (canonical JSON), and
    /// `user` for a per-user context (see `key.rs`).
    pub(crate) fn key(&self, context: &Context, params: &str, user: Option<&str>) -> Key {
        self.keys.key(context, params, user)
    }

    /// The bundle under `key`, when `valid` accepts its position; or the
    /// one `compute` makes (one computation for every concurrent request of
    /// the key), served as it is to the request that ran it and checked by
    /// `valid` for the others. `None`: compute it outside the cache (the
    /// shared value was too old for this request).
    ///
    /// `valid` tells whether no entry after a position reaches the bundle;
    /// an error (the store could not tell) counts, and is a miss.
    pub(crate) async fn get_or_compute<F, E, V>(
        &self,
        key: Key,
        valid: impl Fn(Position) -> V,
        compute: F,
    ) -> Result<Option<Payload>, Arc<E>>
    where
        F: Future<Output = Result<Cached, E>>,
        E: Send + Sync + 'static,
        V: Future<Output = Result<bool, StoreError>>,
    {
        if let Some(hit) = self.entries.get(&key).await {
            if self.checked(valid(hit.position.clone()).await) {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(hit.data.clone()));
            }
            self.drop_if_still(key, &hit).await;
        }
        let ran = AtomicBool::new(false);
        let value = self
            .entries
            .try_get_with(key, async {
                ran.store(true, Ordering::Relaxed);
                if let Some(shared) = self.shared_hit(&key, &valid).await {
                    return Ok(shared);
                }
                self.misses.fetch_add(1, Ordering::Relaxed);
                let cached = Arc::new(compute.await?);
                self.share(&key, &cached);
                Ok(cached)
            })
            .await?;
        // Computed (or checked) for this request, after it began: current
        // for it.
        if ran.load(Ordering::Relaxed) {
            return Ok(Some(value.data.clone()));
        }
        // Waited for another request's computation: a hit when current.
        if self.checked(valid(value.position.clone()).await) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(value.data.clone()));
        }
        // Shared a computation that began before an entry this request
        // must see: drop it, and compute afresh outside the cache.
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.drop_if_still(key, &value).await;
        Ok(None)
    }

    /// Drops the value under `key` if it is still `stale`: a check that
    /// failed may finish after another request stored a fresh value there,
    /// which must stay.
    async fn drop_if_still(&self, key: Key, stale: &Arc<Cached>) {
        let stale = Arc::clone(stale);
        self.entries
            .entry(key)
            .and_compute_with(|current| {
                let same = current.is_some_and(|entry| Arc::ptr_eq(entry.value(), &stale));
                std::future::ready(if same { Op::Remove } else { Op::Nop })
            })
            .await;
    }

    /// A validity check's answer; one that could not be made counts as an
    /// error, and as not valid.
    fn checked(&self, valid: Result<bool, StoreError>) -> bool {
        valid.unwrap_or_else(|e| {
            self.failures
                .failed("checking a bundle against its context's stream", &e);
            false
        })
    }

    /// Stops serving `context`'s cached bundles (every request computes)
    /// until as many [`resume`](Self::resume)s: its stream lost an entry,
    /// and cached bundles older than it would still pass the check.
    pub(crate) fn suspend(&self, context: &str) {
        *self.suspended.entry(context.to_owned()).or_insert(0) += 1;
    }

    /// Ends one [`suspend`](Self::suspend) of `context`.
    pub(crate) fn resume(&self, context: &str) {
        self.suspended.remove_if_mut(context, |_, n| {
            *n -= 1;
            *n == 0
        });
    }

    /// Whether `context`'s cached bundles are not to be served now.
    pub(crate) fn is_suspended(&self, context: &str) -> bool {
        !self.suspended.is_empty() && self.suspended.contains_key(context)
    }

    /// Counts and logs a failure of a store the cache relies on, found by
    /// its caller (the request then computes its bundle).
    pub(crate) fn failed(&self, what: &str, error: &dyn std::fmt::Display) {
        self.failures.failed(what, error);
    }

    /// The counters, for `/metrics`.
    pub(crate) fn counts(&self) -> CacheCounts {
        let n = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CacheCounts {
            hits: n(&self.hits),
            shared_hits: n(&self.shared_hits),
            misses: n(&self.misses),
            refused: n(&self.refused),
            evicted: n(&self.evicted),
            errors: self.failures.count(),
            entries: self.entries.entry_count(),
        }
    }
}

#[cfg(test)]
mod tests;
