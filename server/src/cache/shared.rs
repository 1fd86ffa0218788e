//! The cache's shared tier (the Redis backend): values kept in a
//! [`BundleStore`] under their key in hex, as `<epoch> <offset>\n<data>`,
//! read on a memory miss and checked like any hit; written in the
//! background after a computation. Its failures, and those of the checks,
//! are counted and logged here.

use super::key::{Key, hex};
use super::{BundleCache, Cached};
use crate::broker::store::StoreError;
use bytes::Bytes;
use mizan_protocol::{Payload, Position};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often failures are logged at most, while they go on.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The failures of the stores the cache relies on.
pub(super) struct Failures {
    count: AtomicU64,
    /// When one was last logged: seconds on `clock`, plus one (0: never).
    logged_at: AtomicU64,
    clock: Instant,
}

impl Default for Failures {
    fn default() -> Self {
        Self {
            count: AtomicU64::new(0),
            logged_at: AtomicU64::new(0),
            clock: Instant::now(),
        }
    }
}

impl Failures {
    /// Counts a failure of `what`, and logs it: the first, then at most one
    /// every [`LOG_EVERY`] while they go on.
    pub(super) fn failed(&self, what: &str, error: &dyn std::fmt::Display) {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.clock.elapsed().as_secs() + 1;
        let last = self.logged_at.load(Ordering::Relaxed);
        if (last == 0 || now >= last + LOG_EVERY.as_secs())
            && self
                .logged_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%error, failures = count, "bundle cache: {what} failed; computing instead");
        }
    }

    pub(super) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl BundleCache {
    /// The shared tier's value under `key`, when it has one that `valid`
    /// accepts.
    pub(super) async fn shared_hit<V>(&self, key: &Key, valid: &impl Fn(Position) -> V) -> Option<Arc<Cached>>
    where
        V: Future<Output = Result<bool, StoreError>>,
    {
        let store = self.shared.as_ref()?;
        let bytes = match store.get(&hex(key)).await {
            Ok(found) => found?,
            Err(e) => {
                self.failures.failed("reading the shared cache", &e);
                return None;
            }
        };
        let Some(cached) = decode(&bytes) else {
            self.failures
                .failed("reading the shared cache", &"a value that does not decode");
            return None;
        };
        if !self.checked(valid(cached.position.clone()).await) {
            return None;
        }
        self.shared_hits.fetch_add(1, Ordering::Relaxed);
        Some(Arc::new(cached))
    }

    /// Writes `cached` to the shared tier under `key`, in the background.
    pub(super) fn share(&self, key: &Key, cached: &Cached) {
        let Some(store) = &self.shared else { return };
        let put = store.put(&hex(key), encode(cached), self.ttl);
        let failures = Arc::clone(&self.failures);
        tokio::spawn(async move {
            if let Err(e) = put.await {
                failures.failed("writing the shared cache", &e);
            }
        });
    }
}

/// `<epoch> <offset>\n<data>`.
fn encode(cached: &Cached) -> Bytes {
    let data = cached.data.get();
    let mut out = Vec::with_capacity(cached.position.epoch.len() + 22 + data.len());
    out.extend_from_slice(cached.position.epoch.as_bytes());
    out.extend_from_slice(format!(" {}\n", cached.position.offset).as_bytes());
    out.extend_from_slice(data.as_bytes());
    out.into()
}

/// What [`encode`] wrote; `None` for anything else.
fn decode(bytes: &[u8]) -> Option<Cached> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (head, data) = text.split_once('\n')?;
    let (epoch, offset) = head.split_once(' ')?;
    Some(Cached {
        position: Position::new(epoch, offset.parse().ok()?),
        data: Payload::from_json(data).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_decode_as_they_were_encoded_and_nothing_else_does() {
        let cached = Cached {
            position: Position::new("e1", 42),
            data: Payload::from_value(&serde_json::json!({"user_profile": {"name": "a\nb"}})).unwrap(),
        };
        let back = decode(&encode(&cached)).unwrap();
        assert_eq!(back.position, cached.position);
        assert_eq!(back.data.get(), cached.data.get());
        for junk in [&b""[..], b"e1\n{}", b"e1 x\n{}", b"e1 1\n{", b"\xff 1\n{}"] {
            assert!(decode(junk).is_none(), "{junk:?}");
        }
    }

    #[test]
    fn failures_are_counted_every_time() {
        let failures = Failures::default();
        for _ in 0..3 {
            failures.failed("reading", &"down");
        }
        assert_eq!(failures.count(), 3);
    }
}
