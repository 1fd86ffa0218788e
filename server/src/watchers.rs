//! This node's context watchers: a sharded map from context to a
//! [`WatchIndex`] (which decides who an entry reaches without scanning every
//! watcher), and each watch's delivery state.
//!
//! A watch is registered *before* its bundle is computed. Until the bundle
//! reply is queued, matching pushes are held back in the watch (bounded) and
//! sent right after it, so none is lost and none arrives before the bundle.

use crate::broker::Scope;
use crate::hub::ConnId;
use crate::outbox::Outbox;
use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use mizan_channels::WatchIndex;
use mizan_protocol::{InvalidateEntry, Params, ServerFrame};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Pushes held back while a bundle is computed, at most; past that they
/// are replaced by one broad invalidation (the client refetches anyway).
const HELD_BACK: usize = 64;

/// One watch: a connection's interest in one context with one param set.
pub(crate) struct Watch {
    context: Arc<str>,
    outbox: Outbox,
    state: Mutex<WatchState>,
}

enum WatchState {
    /// The bundle is being computed; pushes wait here.
    Pending { held: Vec<Utf8Bytes>, overflowed: bool },
    /// The bundle was sent; pushes go straight to the outbox.
    Live,
}

impl Watch {
    fn state(&self) -> MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deliver(&self, frame: &Utf8Bytes, push: Push) {
        match &mut *self.state() {
            WatchState::Live => {
                match push {
                    Push::Invalidate => self.outbox.push_invalidation(frame.clone()),
                    Push::Merge => self.outbox.push(frame.clone()),
                };
            }
            WatchState::Pending { held, overflowed } => {
                if held.len() < HELD_BACK {
                    held.push(frame.clone());
                } else {
                    *overflowed = true;
                }
            }
        }
    }

    /// Queues the bundle reply, then every push held back meanwhile, and
    /// from then on delivers pushes directly.
    pub(crate) fn go_live(&self, bundle: &ServerFrame) {
        let mut state = self.state();
        self.outbox.send(bundle);
        if let WatchState::Pending { held, overflowed } = std::mem::replace(&mut *state, WatchState::Live) {
            if overflowed {
                let broad = ServerFrame::Invalidate(InvalidateEntry::broad(&*self.context));
                self.outbox.push_invalidation(broad.encode().into());
            } else {
                for frame in held {
                    self.outbox.push(frame);
                }
            }
        }
    }
}

/// What kind of push a frame is: invalidations may be coalesced, merges
/// (data) may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Push {
    /// An `invalidate` push.
    Invalidate,
    /// A `merge` push.
    Merge,
}

/// Identifies a watch: its connection and its canonical params.
type WatchKey = (ConnId, Arc<str>);

/// The reserved param under which a per-user watch is indexed by its
/// user. Never sent on the wire; `$` cannot start a declared param name.
const AUDIENCE: &str = "$user";

/// The params a watch is indexed by: its own, plus its user for a
/// per-user context.
pub(crate) fn indexed(mut params: Params, user: Option<&str>) -> Params {
    if let Some(user) = user {
        params.insert(AUDIENCE.to_owned(), user.into());
    }
    params
}

/// Context name -> its watchers on this node.
#[derive(Default)]
pub(crate) struct Watchers {
    contexts: DashMap<Arc<str>, WatchIndex<WatchKey, Arc<Watch>>>,
}

/// A param set's canonical text (keys sorted at every level, in any
/// serde_json build).
pub(crate) fn canonical(params: &Params) -> Arc<str> {
    mizan_protocol::canonical_params(params).into()
}

impl Watchers {
    /// Registers a pending watch, identified by the connection and the
    /// client's canonical params, indexed by `params` (see [`indexed`]);
    /// replaces the connection's earlier watch of the same params.
    /// `on_first` runs, under the context's lock, when it is the context's
    /// first watcher on this node.
    pub(crate) fn watch(
        &self,
        context: &Arc<str>,
        (conn, canonical_params): (ConnId, &Arc<str>),
        params: Params,
        outbox: Outbox,
        on_first: impl FnOnce(),
    ) -> Arc<Watch> {
        let key: WatchKey = (conn, Arc::clone(canonical_params));
        let mut watchers = self.contexts.entry(Arc::clone(context)).or_default();
        if watchers.is_empty() {
            on_first();
        }
        let watch = Arc::new(Watch {
            context: Arc::clone(context),
            outbox,
            state: Mutex::new(WatchState::Pending {
                held: Vec::new(),
                overflowed: false,
            }),
        });
        watchers.insert(key, params, Arc::clone(&watch));
        watch
    }

    /// Removes a watch; `on_last` runs, under the context's lock, when the
    /// context has no watcher left on this node. Returns whether it existed.
    pub(crate) fn unwatch(
        &self,
        context: &str,
        conn: ConnId,
        canonical_params: &Arc<str>,
        on_last: impl FnOnce(),
    ) -> bool {
        let key: WatchKey = (conn, Arc::clone(canonical_params));
        let mut existed = false;
        self.contexts.remove_if_mut(context, |_, watchers| {
            existed = watchers.remove(&key).is_some();
            let empty = watchers.is_empty();
            if empty {
                on_last();
            }
            empty
        });
        existed
    }

    /// Indexes an existing watch under new params (its user changed).
    pub(crate) fn reindex(&self, context: &str, conn: ConnId, canonical_params: &Arc<str>, params: Params) {
        let key: WatchKey = (conn, Arc::clone(canonical_params));
        if let Some(mut watchers) = self.contexts.get_mut(context)
            && let Some(watch) = watchers.remove(&key)
        {
            watchers.insert(key, params, watch);
        }
    }

    /// Queues `frame` to every watcher of `context` that `scope` reaches
    /// (matching its params and, for an entry with an audience, watched by
    /// its user); returns how many it reached.
    pub(crate) fn deliver(&self, context: &str, scope: &Scope, frame: &Utf8Bytes) -> usize {
        let Some(watchers) = self.contexts.get(context) else {
            return 0;
        };
        let push = if scope.merge { Push::Merge } else { Push::Invalidate };
        match &scope.user {
            None => watchers.for_each_match(scope.params.as_ref(), |watch| watch.deliver(frame, push)),
            Some(user) => {
                let audience = indexed(scope.params.clone().unwrap_or_default(), Some(user));
                watchers.for_each_match(Some(&audience), |watch| watch.deliver(frame, push))
            }
        }
    }

    /// Sends every watcher a broad invalidation of the context it watches
    /// (after events may have been lost): one encoded frame per context.
    pub(crate) fn invalidate_all(&self) -> usize {
        let mut reached = 0;
        for watchers in self.contexts.iter() {
            let frame: Utf8Bytes = ServerFrame::Invalidate(InvalidateEntry::broad(&**watchers.key()))
                .encode()
                .into();
            reached += watchers.for_each_match(None, |watch| watch.deliver(&frame, Push::Invalidate));
        }
        reached
    }

    /// How many watches this node holds.
    pub(crate) fn count(&self) -> usize {
        self.contexts.iter().map(|c| c.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::tests::drain;
    use crate::outbox::{OutboxReceiver, outbox};
    use serde_json::json;

    fn params(v: serde_json::Value) -> Params {
        v.as_object().unwrap().clone()
    }

    fn scope(params: Option<Params>, user: Option<&str>) -> Scope {
        Scope {
            params,
            user: user.map(str::to_owned),
            merge: false,
        }
    }

    fn live(w: &Watchers, conn: ConnId, p: serde_json::Value) -> (Arc<Watch>, OutboxReceiver) {
        let (tx, rx) = outbox(16, 1 << 20, Arc::default());
        let p = params(p);
        let watch = w.watch(&"user".into(), (conn, &canonical(&p)), p, tx, || {});
        watch.go_live(&ServerFrame::error(None, mizan_protocol::ErrorCode::Internal, "bundle"));
        (watch, rx)
    }

    #[test]
    fn deliver_reaches_matching_live_watchers() {
        let w = Watchers::default();
        let (_a, a) = live(&w, 1, json!({"user_id": 5}));
        let (_b, b) = live(&w, 2, json!({"user_id": 6}));
        drain(&a);
        drain(&b);
        assert_eq!(
            w.deliver("user", &scope(Some(params(json!({"user_id": 5}))), None), &"x".into()),
            1
        );
        assert_eq!((drain(&a), drain(&b).len()), (vec!["x".to_owned()], 0));
        assert_eq!(w.deliver("other", &scope(None, None), &"none".into()), 0);
    }

    #[test]
    fn an_audience_limits_delivery_to_that_users_watchers() {
        let w = Watchers::default();
        let (ann, ann_rx) = live(&w, 1, json!({"$user": "ann"}));
        let (_bob, bob_rx) = live(&w, 2, json!({"$user": "bob"}));
        drain(&ann_rx);
        drain(&bob_rx);
        assert_eq!(w.deliver("user", &scope(None, Some("ann")), &"mine".into()), 1);
        assert_eq!(w.deliver("user", &scope(None, None), &"everyone".into()), 2);
        assert_eq!(drain(&ann_rx), ["mine", "everyone"]);
        assert_eq!(drain(&bob_rx), ["everyone"]);
        // The socket's user changed: its watch now follows the new user.
        let key = canonical(&params(json!({"$user": "ann"})));
        w.reindex("user", 1, &key, indexed(Params::new(), Some("carl")));
        assert_eq!(w.deliver("user", &scope(None, Some("ann")), &"x".into()), 0);
        assert_eq!(w.deliver("user", &scope(None, Some("carl")), &"y".into()), 1);
        drop(ann);
    }

    #[test]
    fn invalidate_all_sends_each_watcher_a_broad_entry_for_its_context() {
        let w = Watchers::default();
        let (_a, a) = live(&w, 1, json!({"user_id": 5}));
        let (tx, b) = outbox(16, 1 << 20, Arc::default());
        let notes = w.watch(
            &"notifications".into(),
            (2, &canonical(&Params::new())),
            Params::new(),
            tx,
            || {},
        );
        notes.go_live(&ServerFrame::error(None, mizan_protocol::ErrorCode::Internal, "bundle"));
        drain(&a);
        drain(&b);
        assert_eq!(w.invalidate_all(), 2);
        assert_eq!(drain(&a), [r#"{"type":"invalidate","context":"user"}"#]);
        assert_eq!(drain(&b), [r#"{"type":"invalidate","context":"notifications"}"#]);
    }

    #[test]
    fn pending_watches_hold_pushes_until_the_bundle_is_queued() {
        let w = Watchers::default();
        let (tx, rx) = outbox(16, 1 << 20, Arc::default());
        let p = params(json!({"user_id": 5}));
        let watch = w.watch(&"user".into(), (1, &canonical(&p)), p, tx, || {});
        w.deliver("user", &scope(None, None), &"early".into());
        assert!(drain(&rx).is_empty());
        watch.go_live(&ServerFrame::error(None, mizan_protocol::ErrorCode::Internal, "bundle"));
        let frames = drain(&rx);
        assert!(frames[0].contains("bundle"));
        assert_eq!(frames[1], "early");
    }

    #[test]
    fn overflowing_pending_pushes_collapse_into_one_broad_invalidation() {
        let w = Watchers::default();
        let (tx, rx) = outbox(256, 1 << 20, Arc::default());
        let watch = w.watch(
            &"user".into(),
            (1, &canonical(&Params::new())),
            Params::new(),
            tx,
            || {},
        );
        for _ in 0..HELD_BACK + 1 {
            w.deliver("user", &scope(None, None), &"push".into());
        }
        watch.go_live(&ServerFrame::error(None, mizan_protocol::ErrorCode::Internal, "bundle"));
        let frames = drain(&rx);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1], r#"{"type":"invalidate","context":"user"}"#);
    }

    #[test]
    fn unwatch_removes_from_the_index_and_reports_the_last() {
        let w = Watchers::default();
        let (_a, _ra) = live(&w, 1, json!({"user_id": 5}));
        let (_b, _rb) = live(&w, 2, json!({"user_id": 5}));
        let key = canonical(&params(json!({"user_id": 5})));
        let mut lasts = 0;
        assert!(w.unwatch("user", 1, &key, || lasts += 1));
        assert!(!w.unwatch("user", 1, &key, || lasts += 1));
        assert_eq!(
            w.deliver("user", &scope(Some(params(json!({"user_id": 5}))), None), &"x".into()),
            1
        );
        assert!(w.unwatch("user", 2, &key, || lasts += 1));
        assert_eq!((lasts, w.count()), (1, 0));
    }
}
