//! Draining a node without a reconnect storm.
//!
//! axum's graceful shutdown stops accepting and waits for HTTP requests,
//! but not for upgraded WebSockets; draining does that part: it refuses new
//! sockets (and fails `/readyz`, so a load balancer stops routing here),
//! lets in-flight handlers finish up to `shutdown_grace`, then closes the
//! sockets with 1012 in batches spread over `drain_window`, so their
//! clients reconnect elsewhere over that window rather than all at once.
//! [`Mizan::serve`] drains when its shutdown signal resolves.

use crate::app::Mizan;
use mizan_protocol::CloseCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often a batch of sockets is closed while draining.
const BATCH_EVERY: Duration = Duration::from_millis(100);

/// How long draining waits for closed sockets' tasks to end.
const TASKS_GRACE: Duration = Duration::from_secs(5);

impl Mizan {
    /// Drains the node (see the module docs) and returns when every socket
    /// is closed or the grace periods have passed.
    pub async fn drain(&self) {
        let node = &self.node;
        node.draining.store(true, Ordering::Release);
        tracing::info!(sockets = node.sockets.len(), "draining: refusing new sockets");
        if !node.wait_idle(node.config.shutdown_grace).await {
            tracing::warn!("draining: in-flight handlers did not finish within shutdown_grace");
        }
        let sockets: Vec<_> = node.sockets.iter().map(|entry| entry.value().clone()).collect();
        let batches = (node.config.drain_window.as_millis() / BATCH_EVERY.as_millis()).max(1) as usize;
        let per_batch = sockets.len().div_ceil(batches).max(1);
        for (i, batch) in sockets.chunks(per_batch).enumerate() {
            if i > 0 {
                tokio::time::sleep(BATCH_EVERY).await;
            }
            batch.iter().for_each(|socket| socket.close(CloseCode::Restart));
        }
        if tokio::time::timeout(TASKS_GRACE, node.connections.wait_empty())
            .await
            .is_err()
        {
            tracing::warn!(
                left = node.connections.total(),
                "draining: sockets still open after the grace period"
            );
        }
        tracing::info!(left = node.connections.total(), "drained");
    }

    /// Whether the node is draining.
    pub fn is_draining(&self) -> bool {
        self.node.draining.load(Ordering::Acquire)
    }
}
