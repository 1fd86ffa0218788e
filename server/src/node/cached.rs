//! Bundles through the bundle cache (`crate::cache`): building the cache
//! from the settings, and checking a cached bundle against its context's
//! stream, on this node or in the stream store.

use super::Node;
use crate::broker::Subject;
use crate::broker::store::{Read, StoreError};
use crate::cache::{BundleCache, Cached};
use crate::config::BundleCacheBackend;
use crate::watchers::{canonical, indexed};
use mizan_channels::{Access, Cx, Error, History, Registry};
use mizan_protocol::{Params, Payload, Position};

/// Entries read at most to check a cached bundle beside a stream store:
/// a bundle more entries behind is computed again.
const CHECK_ENTRIES: usize = 64;

/// The bundle cache the settings ask for, or why they cannot have it: the
/// Redis backend without a broker that shares a bundle store, or a
/// `cache_control` that names an unknown context, a per-user one or one
/// not everyone may read.
pub(super) fn build(
    config: &crate::ServerConfig,
    registry: &Registry,
    broker: &dyn crate::broker::Broker,
    has_streams: bool,
) -> Result<Option<BundleCache>, String> {
    for (context, setting) in &config.cache_control {
        if axum::http::HeaderValue::from_str(setting).is_err() {
            return Err(format!(
                "`cache_control` for `{context}` is not a header value: {setting:?}"
            ));
        }
        let declared = registry
            .context(context)
            .ok_or_else(|| format!("`cache_control` names `{context}`, which is not a context"))?;
        if declared.is_per_user() {
            return Err(format!(
                "`cache_control` names `{context}`, a per-user context: its bundles are always `private, no-store`"
            ));
        }
        let public = declared.slots().iter().all(|slot| {
            registry
                .function(slot)
                .is_some_and(|f| matches!(f.access_level(), Access::Public))
        });
        if !public {
            return Err(format!(
                "`cache_control` names `{context}`, whose functions check who asks: a shared cache would skip the check"
            ));
        }
    }
    if config.bundle_cache_bytes == 0 || !has_streams {
        return Ok(None);
    }
    let (shared, secret) = match config.bundle_cache_backend {
        BundleCacheBackend::Memory => (None, config.cache_secret.clone()),
        BundleCacheBackend::Redis => {
            let shared = broker
                .bundles()
                .ok_or("`bundle_cache_backend = \"redis\"` needs the Redis broker")?;
            (Some(shared), config.shared_cache_secret())
        }
    };
    let secret = secret.as_ref().map(crate::config::CacheSecret::as_bytes);
    Ok(Some(BundleCache::new(
        config.bundle_cache_bytes,
        config.bundle_cache_ttl,
        secret,
        shared,
    )))
}

impl Node {
    /// The bundle of `context` for `params`, as [`bundle`](Self::bundle)
    /// computes it or from the bundle cache when it holds one still current
    /// at `position`, the context's position read when the request began
    /// (`None`: computed). Access is checked for `cx` either way.
    pub(crate) async fn cached_bundle(
        &self,
        cx: Cx,
        context: &str,
        params: &Params,
        position: Option<&Position>,
    ) -> Result<Payload, Error> {
        let (Some(cache), Some(declared)) = (&self.cache, self.registry.context(context)) else {
            return self.bundle(cx, context, params).await;
        };
        if cache.is_suspended(context) {
            return self.bundle(cx, context, params).await;
        }
        let Some(now) = position else {
            cache.failed("reading the context's position", &"the stream store did not answer");
            return self.bundle(cx, context, params).await;
        };
        self.registry.check_context_access(&cx, context, params)?;
        let user = declared
            .is_per_user()
            .then(|| cx.user().map(|u| u.id.clone()))
            .flatten();
        let key = cache.key(declared, &canonical(params), user.as_deref());
        let index = indexed(params.clone(), user.as_deref());
        let index = &index;
        let valid = move |at: Position| async move { self.unchanged_after(context, &at, now, index).await };
        let computing = cx.clone();
        let compute = async move {
            let data = self.bundle(computing, context, params).await?;
            // `now` was read before the computation began.
            Ok::<_, Error>(Cached {
                position: now.clone(),
                data,
            })
        };
        match cache.get_or_compute(key, valid, compute).await {
            Ok(Some(data)) => Ok(data),
            Ok(None) => self.bundle(cx, context, params).await,
            Err(shared) => Err(Error::new(shared.code(), shared.to_string())),
        }
    }

    /// Whether no entry of `context`'s stream after `at` reaches `index`
    /// (a bundle's indexed params), for a request that began at `now`: by
    /// this node's stream, or beside a stream store by the store itself
    /// (one read), since this node's mirror may not have heard yet what
    /// another node's reply already announced.
    async fn unchanged_after(
        &self,
        context: &str,
        at: &Position,
        now: &Position,
        index: &Params,
    ) -> Result<bool, StoreError> {
        let Some(store) = &self.store else {
            return Ok(at == now || self.unchanged_since(context, at, index).is_some());
        };
        let keep = self.config.context_keep();
        let read = Read {
            subject: Subject::Context(context.into()),
            keep: History::keep(keep.size.min(CHECK_ENTRIES), keep.ttl),
            after: at.offset,
            known: None,
        };
        Ok(store.read(read).await?.unchanged_since(at, index))
    }
}
