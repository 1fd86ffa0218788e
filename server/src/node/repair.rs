//! An entry the stream store did not take (PROTOCOL.md section 9): its
//! push went out without an offset, so the stream's position did not move,
//! and what a position vouches for (a cached bundle, a re-watch's
//! `unchanged`) would be believed on every node though the context changed.
//! The node that published it, and every node that hears the push
//! without an offset, stops serving the context's cached bundles at once
//! and appends an invalidation of the same scope as soon as the store
//! takes it (one per node: a watcher may refetch more than once, never too
//! few times); once appended, every older cached bundle fails its check.

use super::Node;
use crate::broker::store::{Append, frame_head};
use crate::broker::{Scope, Subject};
use mizan_protocol::{InvalidateEntry, ServerFrame};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a node keeps trying to append the repair.
const REPAIR_FOR: Duration = Duration::from_secs(600);

/// The longest pause between two tries.
const PAUSE_MAX: Duration = Duration::from_secs(5);

impl Node {
    /// Repairs `context`'s stream after an entry reaching `scope` was not
    /// appended (see the module docs); the node's cache does not serve the
    /// context until the repair is in. The repair is an invalidation even
    /// for a lost merge: its data may be older than the context by then.
    pub(crate) fn repair_context(self: &Arc<Self>, context: &str, scope: Option<&Scope>) {
        let Some(store) = self.store.clone() else { return };
        let mut entry = InvalidateEntry::broad(context);
        entry.params = scope.and_then(|s| s.params.clone());
        entry.user = scope.and_then(|s| s.user.clone());
        let push = ServerFrame::Invalidate(entry.at(Some(0)));
        let Some(head) = frame_head(push.encode()) else { return };
        let append = Append {
            subject: Subject::Context(context.into()),
            keep: self.config.context_keep(),
            head,
            scope: Scope::of(&push).map(Arc::new),
        };
        if let Some(cache) = &self.cache {
            cache.suspend(context);
        }
        let context = context.to_owned();
        let node = Arc::downgrade(self);
        tokio::spawn(async move {
            let (started, mut pause) = (Instant::now(), Duration::from_millis(100));
            loop {
                match store.append(append.clone()).await {
                    Ok(position) => {
                        tracing::info!(
                            context,
                            offset = position.offset,
                            "a context's stream was repaired after a lost entry"
                        );
                        if let Some(cache) = node.upgrade().as_ref().and_then(|n| n.cache.as_ref()) {
                            cache.resume(&context);
                        }
                        return;
                    }
                    Err(error) if started.elapsed() >= REPAIR_FOR => {
                        // Its bundles stay uncached on this node.
                        tracing::error!(%error, context, "a context's stream could not be repaired after a lost entry: re-watches elsewhere may trust it");
                        return;
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(PAUSE_MAX);
            }
        });
    }
}
