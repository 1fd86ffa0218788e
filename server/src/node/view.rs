//! Running a view-path function (`crate::view`): the same access check,
//! timeout, panic guard and effects as a function's call, with an axum
//! response in place of a JSON result.

use super::Node;
use crate::view::Mounted;
use axum::response::Response;
use mizan_channels::{Args, Cx, Error};
use mizan_protocol::{InvalidateEntry, MergeEntry, Payload};
use std::sync::Arc;

/// A view's answer, and what it affected (for `X-Mizan-Invalidate`).
pub(crate) struct ViewOutcome {
    pub(crate) response: Response,
    pub(crate) invalidate: Vec<InvalidateEntry>,
    pub(crate) merge: Vec<MergeEntry>,
}

impl Node {
    /// Runs `view` with its urlencoded args (path params, query, form
    /// body), then publishes what it affects to every matching watcher on
    /// every node; for a `safe` request (GET, HEAD: RFC 9110 says it changes
    /// nothing) only what its handler added with `cx.invalidate` and the like.
    pub(crate) async fn serve_view(
        self: &Arc<Self>,
        cx: Cx,
        view: &Mounted,
        encoded: &str,
        safe: bool,
    ) -> Result<ViewOutcome, Error> {
        let decl = self
            .registry
            .function(&view.name)
            .ok_or_else(|| Error::internal("a view missing from the registry"))?;
        let prepared = (view.prepare)(encoded)?;
        let args = serde_json::Value::Object(prepared.args);
        decl.check_access(&cx, Args::Parsed(&args))?;
        let caller = cx.user().map(|u| u.id.clone());
        let (cx, emitter) = cx.with_emitter(&self.registry);
        let started = std::time::Instant::now();
        let result = self.guarded(&view.name, (prepared.run)(cx)).await;
        self.metrics.call(&view.name, started.elapsed());
        let response = result?;
        let effects = self.registry.effects(&view.name).filter(|_| !safe);
        let (invalidate, merge) = self
            .publish_effects(
                &view.name,
                effects,
                args.as_object(),
                &Payload::empty_object(),
                caller.as_deref(),
                emitter.take(),
            )
            .await;
        Ok(ViewOutcome {
            response,
            invalidate,
            merge,
        })
    }
}
