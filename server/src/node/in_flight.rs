//! Requests in progress, counted so that draining can wait for them.

use super::Node;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A request in progress, from its start until its reply is queued; the
/// last one to end wakes [`Node::wait_idle`] (draining waits for them).
pub(crate) struct InFlight(Arc<Node>);

impl InFlight {
    /// Counts a request until the guard drops.
    pub(crate) fn start(node: &Arc<Node>) -> Self {
        node.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(node))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Node {
    /// Waits until no handler runs, or `limit` passes; true if idle.
    pub(crate) async fn wait_idle(&self, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return false;
            }
        }
    }
}
