//! The contexts one socket watches, and `fetch`, `watch`, `unwatch`.

use super::Connection;
use crate::eager::run_or_spawn;
use crate::node::InFlight;
use crate::watchers::{canonical, indexed};
use mizan_channels::Error;
use mizan_protocol::{InvalidateEntry, Params, RequestId, ServerFrame};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// (context, canonical params) of every watch this socket holds.
#[derive(Default)]
pub(super) struct Watches {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    keys: HashSet<(Arc<str>, Arc<str>)>,
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
    let conn = Arc::clone(conn);
    let running = InFlight::start(&conn.node);
    run_or_spawn(async move {
        let _running = running;
        let reply = match conn.node.bundle(conn.cx(), &context, &params).await {
            Ok(data) => ServerFrame::Bundle {
                id,
                context,
                params,
                data,
            },
            Err(e) => e.to_frame(Some(id)),
        };
        conn.reply(&reply);
    });
}

/// `watch`: registers the watcher first, then computes the bundle; pushes
/// that match meanwhile follow the bundle reply.
pub(super) fn watch(conn: &Arc<Connection>, id: RequestId, context: String, params: Params) {
    let Some(declared) = conn.node.registry.context(&context) else {
        conn.reply(&Error::not_found(format!("unknown context `{context}`")).to_frame(Some(id)));
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
    let context: Arc<str> = context.into();
    let key = canonical(&params);
    let watch = {
        let mut inner = conn.watches.lock();
        if inner.closed {
            return;
        }
        let entry = (Arc::clone(&context), Arc::clone(&key));
        let max = conn.node.config.max_watches_per_connection;
        if inner.keys.len() >= max && !inner.keys.contains(&entry) {
            drop(inner);
            conn.reply(&Error::limit(format!("a socket may hold at most {max} watches")).to_frame(Some(id)));
            return;
        }
        inner.keys.insert(entry);
        let index = indexed(params.clone(), audience.as_deref());
        conn.node.watch(&context, (conn.id, &key), index, conn.outbox.clone())
    };
    let conn = Arc::clone(conn);
    let running = InFlight::start(&conn.node);
    run_or_spawn(async move {
        let _running = running;
        match conn.node.bundle(cx, &context, &params).await {
            Ok(data) => watch.go_live(&ServerFrame::Bundle {
                id,
                context: context.to_string(),
                params,
                data,
            }),
            Err(e) => {
                remove(&conn, &context, &key);
                conn.reply(&e.to_frame(Some(id)));
            }
        }
    });
}

/// `unwatch`: stops the pushes. Unwatching what is not watched is `ok`
/// too: the client's wish (no pushes) holds either way.
pub(super) fn unwatch(conn: &Connection, id: RequestId, context: &str, params: &Params) {
    remove(conn, &context.into(), &canonical(params));
    conn.reply(&ServerFrame::Ok { id, user: None });
}

fn remove(conn: &Connection, context: &Arc<str>, key: &Arc<str>) {
    let mut inner = conn.watches.lock();
    if inner.keys.remove(&(Arc::clone(context), Arc::clone(key))) {
        conn.node.unwatch(context, conn.id, key);
    }
}

/// The socket's user changed to `user`: its per-user watches now follow
/// the new user, and each is told to refetch (its data was the old user's).
pub(super) fn user_changed(conn: &Connection, user: &str) {
    let inner = conn.watches.lock();
    for (context, key) in &inner.keys {
        if !conn.node.registry.context(context).is_some_and(|c| c.is_per_user()) {
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
    for (context, key) in inner.keys.drain() {
        conn.node.unwatch(&context, conn.id, &key);
    }
}
