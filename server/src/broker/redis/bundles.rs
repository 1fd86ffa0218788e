//! The bundle store in Redis: each cached bundle is one string key,
//! `{prefix}:b:{key}` (`wire::bundle_key`), written with `SET … PX ttl`
//! so that Redis forgets it after the cache's TTL (and may evict it
//! earlier under `maxmemory`: a miss, never an error).

use super::Shared;
use super::connection::within;
use super::scripts::{failed, millis, unreachable};
use crate::broker::bundles::BundleStore;
use crate::broker::store::StoreError;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// The bundle store of a [`RedisBroker`](super::RedisBroker)'s node.
pub(super) struct RedisBundles {
    shared: Arc<Shared>,
}

impl RedisBundles {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl BundleStore for RedisBundles {
    fn get(&self, key: &str) -> BoxFuture<'static, Result<Option<Bytes>, StoreError>> {
        let key = self.shared.names.bundle_key(key);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let mut conn = shared.commands().ok_or_else(unreachable)?;
            let get = ::redis::cmd("GET").arg(&key).to_owned();
            let value: Option<Vec<u8>> = within(shared.config.command_timeout, get.query_async(&mut conn))
                .await
                .map_err(|e| failed(&shared, e))?;
            Ok(value.map(Bytes::from))
        })
    }

    fn put(&self, key: &str, value: Bytes, ttl: Duration) -> BoxFuture<'static, Result<(), StoreError>> {
        let key = self.shared.names.bundle_key(key);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let mut conn = shared.commands().ok_or_else(unreachable)?;
            let set = ::redis::cmd("SET")
                .arg(&key)
                .arg(value.as_ref())
                .arg("PX")
                .arg(millis(ttl).max(1))
                .to_owned();
            within(shared.config.command_timeout, set.query_async::<()>(&mut conn))
                .await
                .map_err(|e| failed(&shared, e))
        })
    }
}
