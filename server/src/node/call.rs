//! The call pipeline and bundles, shared by WebSocket and HTTP.

use super::Node;
use crate::eager::panic_text;
use futures_util::FutureExt;
use mizan_channels::{Args, Cx, Effects, Error};
use mizan_protocol::{InvalidateEntry, MergeEntry, Params, Payload, ServerFrame};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// A successful call: its result and what it affected.
pub(crate) struct CallOutcome {
    pub(crate) result: Payload,
    pub(crate) invalidate: Vec<InvalidateEntry>,
    pub(crate) merge: Vec<MergeEntry>,
}

impl Node {
    /// Runs function `name` (lookup, access check, args, handler with
    /// panics caught), then publishes what it affects to every matching
    /// watcher on every node.
    pub(crate) async fn call(self: &Arc<Self>, cx: Cx, name: &str, args: &Payload) -> Result<CallOutcome, Error> {
        let function = self
            .registry
            .function(name)
            .filter(|f| f.route_path().is_none())
            .ok_or_else(|| Error::not_found(format!("unknown function `{}`", mizan_protocol::quote(name))))?;
        let caller = cx.user().map(|u| u.id.clone());
        let effects = self.registry.effects(name).filter(|e| !e.is_empty());
        // Parsed once, when anything needs them parsed (a custom predicate,
        // scoped effects); the handler decodes from the parsed form then.
        let parsed = match function.needs_parsed_args() || effects.is_some_and(Effects::needs_args) {
            true => Some(
                args.parse::<serde_json::Value>()
                    .map_err(|e| Error::invalid_args(format!("args are not valid JSON: {e}")))?,
            ),
            false => None,
        };
        let call_args = parsed.as_ref().map_or(Args::Text(args), Args::Parsed);
        let (cx, emitter) = cx.with_emitter(&self.registry);
        let started = std::time::Instant::now();
        let result = self.guarded(name, function.call(cx, call_args)).await;
        self.metrics.call(name, started.elapsed());
        let result = result?;
        let args = parsed.as_ref().and_then(serde_json::Value::as_object);
        let (invalidate, merge) = self
            .publish_effects(name, effects, args, &result, caller.as_deref(), emitter.take())
            .await;
        Ok(CallOutcome {
            result,
            invalidate,
            merge,
        })
    }

    /// Publishes what a successful run of function `name` (or view) with
    /// `args` affected: its declared `effects`, scoped by `args` and by
    /// `result` (merges), then what its handler added (`emitted`); each
    /// entry takes its offset in its context's stream as it is published.
    /// Returns the entries, with their offsets.
    pub(crate) async fn publish_effects(
        self: &Arc<Self>,
        name: &str,
        effects: Option<&Effects>,
        args: Option<&serde_json::Map<String, serde_json::Value>>,
        result: &Payload,
        caller: Option<&str>,
        emitted: mizan_channels::Emitted,
    ) -> (Vec<InvalidateEntry>, Vec<MergeEntry>) {
        let no_args = Params::new();
        let (mut invalidate, mut merge) = match effects.filter(|e| !e.is_empty()) {
            Some(effects) => effects.entries(args.unwrap_or(&no_args), result, caller),
            None => (Vec::new(), Vec::new()),
        };
        // What the handler added joins the declared entries.
        invalidate.extend(self.checked(emitted.invalidate, caller, name, |e| (&e.context, &mut e.user)));
        merge.extend(self.checked(emitted.merge, caller, name, |e| (&e.context, &mut e.user)));
        for entry in &mut invalidate {
            entry.offset = self
                .publish_context(&entry.context, |offset| {
                    ServerFrame::Invalidate(entry.clone().at(offset))
                })
                .await;
        }
        for entry in &mut merge {
            entry.offset = self
                .publish_context(&entry.context, |offset| ServerFrame::Merge(entry.clone().at(offset)))
                .await;
        }
        for (topic, data, keep) in emitted.publish {
            self.publish_message(&topic, data, keep).position().await;
        }
        (invalidate, merge)
    }

    /// The entries a handler added, for contexts the registry declares
    /// (an unknown one is a mistake in the handler: logged, dropped); a
    /// per-user context's entry that names no user reaches the caller's
    /// watchers.
    fn checked<E>(
        &self,
        entries: Vec<E>,
        caller: Option<&str>,
        function: &str,
        parts: impl Fn(&mut E) -> (&String, &mut Option<String>),
    ) -> Vec<E> {
        entries
            .into_iter()
            .filter_map(|mut entry| {
                let (context, user) = parts(&mut entry);
                let Some(declared) = self.registry.context(context) else {
                    tracing::error!(function, %context, "a handler added an entry for an unknown context: dropped");
                    return None;
                };
                if declared.is_per_user() && user.is_none() {
                    *user = caller.map(str::to_owned);
                }
                Some(entry)
            })
            .collect()
    }

    /// Computes the bundle of `context` for `params`, panics caught.
    pub(crate) async fn bundle(&self, cx: Cx, context: &str, params: &Params) -> Result<Payload, Error> {
        self.guarded(context, self.registry.bundle(cx, context, params)).await
    }

    /// Runs a handler's future: a panic becomes an `internal` error, a run
    /// longer than the configured timeout an `internal` "timed out", and
    /// internal errors are logged (their text never reaches the client).
    pub(crate) async fn guarded<T>(&self, what: &str, fut: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        let limit = self.config.handler_timeout;
        let result = match tokio::time::timeout(limit, AssertUnwindSafe(fut).catch_unwind()).await {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => Err(Error::internal(format!("handler panicked: {}", panic_text(&*panic)))),
            Err(_) => Err(Error::timeout(limit)),
        };
        if let Err(e) = &result
            && e.code() == mizan_protocol::ErrorCode::Internal
        {
            tracing::error!(target: "mizan::handler", handler = what, error = %e, "handler failed");
        }
        result
    }
}
