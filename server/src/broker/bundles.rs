//! A bundle store shared by nodes in several processes: the bundle cache's
//! shared tier (`crate::cache`, docs/caching.md). It keeps opaque values
//! under the cache's keys for a while; the cache decides what they mean
//! and whether one may still be served.

use super::store::StoreError;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use std::time::Duration;

/// A shared bundle store (see the module docs). Every wait is bounded by
/// the store's own timeouts; a failure is the cache's miss, never a failed
/// fetch.
pub trait BundleStore: Send + Sync + 'static {
    /// The value kept under `key` (hex), if any.
    fn get(&self, key: &str) -> BoxFuture<'static, Result<Option<Bytes>, StoreError>>;

    /// Keeps `value` under `key` (hex) for `ttl`, replacing what was there.
    fn put(&self, key: &str, value: Bytes, ttl: Duration) -> BoxFuture<'static, Result<(), StoreError>>;
}
