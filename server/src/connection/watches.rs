//! The contexts one socket watches, and `fetch`, `watch`, `unwatch`.

use super::Connection;
use crate::broker::Subject;
use crate::eager::Work;
use crate::limits::BudgetSlot;
use crate::node::InFlight;
use crate::watchers::{canonical, indexed};
use mizan_channels::{Cx, Error};
use mizan_protocol::{ErrorCode, InvalidateEntry, Params, Position, RequestId, ServerFrame};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Every watch this socket holds, by (context, canonical params), with its
/// place in the node's watch budget.
#[derive(Default)]
pub(super) struct Watches {
    inner: Mutex<Inner>,
}

type WatchKey = (Arc<str>, Arc<str>);

#[derive(Default)]
struct Inner {
    keys: HashMap<WatchKey, BudgetSlot>,
    /// Set at teardown: a watch arriving later must not register.
    closed: bool,
}

impl Watches {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `fetch`: the bundle, once (computed here, in a task of its own once it
/// has to wait).
pub(super) fn fetch(conn: &Arc<Connection>, id: RequestId, context: String, params: Params) {
    let kind = bundle_work(conn, &context);
    let job = Arc::clone(conn);
    let running = InFlight::start(&conn.node);
    // Panics are contained by `bundle` (it runs the context's functions
    // `guarded`); the rest cannot panic.
    conn.node.eager.run(|| kind, async move {
        let conn = job;
        let _running = running;
        // Read before the bundle is computed: every entry up to it is in it.
        let position = conn.node.context_position(&context).await;
        let bundle = conn.node.cached_bundle(conn.cx(), &context, &params, position.as_ref());
        let reply = match bundle.await {
            Ok(data) => ServerFrame::Bundle {
                id,
                context,
                params,
                data,
                position,
            },
            Err(e) => e.to_frame(Some(id)),
        };
        conn.reply(&reply);
    });
}

/// `watch`: registers the watcher first, then computes the bundle; pushes
/// that match meanwhile follow the bundle reply. With `since` (the
/// position of the bundle the client holds), when the context's stream
/// still keeps every entry after it and none reaches this watch, the reply
/// is `unchanged` and no bundle is computed.
pub(super) fn watch(conn: &Arc<Connection>, id: RequestId, context: String, params: Params, since: Option<Position>) {
    let Some(declared) = conn.node.registry.context(&context) else {
        let e = Error::not_found(format!("unknown context `{}`", mizan_protocol::quote(&context)));
        conn.reply(&e.to_frame(Some(id)));
        return;
    };
    let cx = conn.cx();
    // A per-user watch is indexed by its user, so entries about another
    // user's data never reach it.
    let audience = match (declared.is_per_user(), cx.user()) {
        (false, _) => None,
        (true, Some(user)) => Some(user.id.clone()),
        (true, None) => {
            let e = Error::unauthenticated(format!("context `{context}` is per-user: it needs a signed-in user"));
            conn.reply(&e.to_frame(Some(id)));
            return;
        }
    };
    let key = canonical(&params);
    let config = &conn.node.config;
    if key.len() > config.max_params_bytes {
        let e = Error::invalid_args(format!(
            "watch params may be at most {} bytes of JSON",
            config.max_params_bytes
        ));
        conn.reply(&e.to_frame(Some(id)));
        return;
    }
    let context: Arc<str> = context.into();
    let watch = {
        let mut inner = conn.watches.lock();
        if inner.closed {
            return;
        }
        let entry = (Arc::clone(&context), Arc::clone(&key));
        if !inner.keys.contains_key(&entry) {
            let max = config.max_watches_per_connection;
            let refused = if inner.keys.len() >= max {
                Some(format!("a socket may hold at most {max} watches"))
            } else {
                match conn.node.limits.watches.take() {
                    Some(slot) => {
                        inner.keys.insert(entry, slot);
                        None
                    }
                    None => Some(format!(
                        "this node holds {} watches, its most: try again later",
                        conn.node.limits.watches.max()
                    )),
                }
            };
            if let Some(message) = refused {
                drop(inner);
                conn.reply(&Error::limit(message).to_frame(Some(id)));
                return;
            }
        }
        let index = indexed(params.clone(), audience.as_deref());
        let watch = conn
            .node
            .watch(&context, (conn.id, &key), index.clone(), conn.outbox.clone());
        (watch, index)
    };
    let (watch, index) = watch;
    let job = Arc::clone(conn);
    let running = InFlight::start(&conn.node);
    conn.node.eager.run(|| Work::Bundle(declared.name()), async move {
        let conn = job;
        let _running = running;
        let node = &conn.node;
        let subject = Subject::Context(Arc::clone(&context));
        // With a stream store, the mirror is made live first; a store that
        // cannot be read leaves the watch without a position, and its
        // mirror tells it to refetch once it is filled.
        let (_hold, ready) = node.ready(&subject).await;
        if ready.is_err() {
            node.taint(&subject);
        }
        if let Some(since) = &since
            && let Some(position) = node.unchanged_since(&context, since, &index)
        {
            watch.go_live(&ServerFrame::Unchanged {
                id,
                context: context.to_string(),
                params,
                position,
            });
            return;
        }
        // Read after the watcher is registered and before the bundle is
        // computed: every entry up to it is in the bundle, every later one
        // reaches the watcher.
        let position = match ready {
            Ok(()) => node.context_position(&context).await,
            Err(_) => None,
        };
        match node.cached_bundle(cx, &context, &params, position.as_ref()).await {
            Ok(data) => watch.go_live(&ServerFrame::Bundle {
                id,
                context: context.to_string(),
                params,
                data,
                position,
            }),
            Err(e) => {
                remove(&conn, &context, &key);
                conn.reply(&e.to_frame(Some(id)));
            }
        }
    });
}

/// The kind of work a bundle of `context` is (an unknown one fails at once).
fn bundle_work<'a>(conn: &'a Connection, context: &str) -> Work<'a> {
    Work::Bundle(conn.node.registry.context(context).map_or("", |c| c.name()))
}

/// `unwatch`: stops the pushes. Unwatching what is not watched is `ok`
/// too: the client's wish (no pushes) holds either way.
pub(super) fn unwatch(conn: &Connection, id: RequestId, context: &str, params: &Params) {
    remove(conn, &context.into(), &canonical(params));
    conn.reply(&ServerFrame::Ok { id, user: None });
}

fn remove(conn: &Connection, context: &Arc<str>, key: &Arc<str>) -> bool {
    let mut inner = conn.watches.lock();
    let removed = inner.keys.remove(&(Arc::clone(context), Arc::clone(key))).is_some();
    if removed {
        conn.node.unwatch(context, conn.id, key);
    }
    removed
}

/// The watches `cx`'s identity may no longer hold, and why: each
/// context's access checks run again for the new user (none, once the
/// token expired).
pub(super) fn recheck(conn: &Connection, cx: &Cx) -> Vec<(WatchKey, ErrorCode)> {
    let inner = conn.watches.lock();
    inner
        .keys
        .keys()
        .filter_map(|(context, key)| {
            let params: Params = serde_json::from_str(key).unwrap_or_default();
            let code = conn
                .node
                .registry
                .check_context_access(cx, context, &params)
                .err()?
                .code();
            Some(((Arc::clone(context), Arc::clone(key)), code))
        })
        .collect()
}

/// Applies [`recheck`]'s verdicts: each refused watch is dropped and the
/// socket told (`unwatched`). Then, if the socket's user changed to
/// `user`, its remaining per-user watches follow the new user and are told
/// to refetch (their data was the old user's).
pub(super) fn apply(conn: &Connection, refused: Vec<(WatchKey, ErrorCode)>, user: Option<&str>) {
    for ((context, key), code) in refused {
        if remove(conn, &context, &key) {
            let params: Params = serde_json::from_str(&key).unwrap_or_default();
            conn.reply(&ServerFrame::Unwatched {
                context: context.to_string(),
                params,
                code,
            });
        }
    }
    let Some(user) = user else { return };
    let inner = conn.watches.lock();
    for (context, key) in inner.keys.keys() {
        if !conn
            .node
            .registry
            .context(context)
            .is_some_and(mizan_channels::Context::is_per_user)
        {
            continue;
        }
        let params: Params = serde_json::from_str(key).unwrap_or_default();
        conn.node
            .watchers
            .reindex(context, conn.id, key, indexed(params, Some(user)));
        conn.reply(&ServerFrame::Invalidate(InvalidateEntry::broad(&**context)));
    }
}

/// Teardown: drops every watch; later watches will not register.
pub(super) fn unwatch_all(conn: &Connection) {
    let mut inner = conn.watches.lock();
    inner.closed = true;
    for ((context, key), _) in inner.keys.drain() {
        conn.node.unwatch(&context, conn.id, &key);
    }
}
