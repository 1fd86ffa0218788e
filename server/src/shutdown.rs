//! Serving until a signal, and draining without a reconnect storm.
//!
//! axum's graceful shutdown stops accepting and waits for HTTP requests,
//! but not for upgraded WebSockets; draining does that part: it refuses new
//! sockets (and fails `/readyz`, so a load balancer stops routing here),
//! lets in-flight handlers finish up to `shutdown_grace`, then closes the
//! sockets with 1012 in batches spread over `drain_window`, so their
//! clients reconnect elsewhere over that window rather than all at once.

use crate::app::Mizan;
use axum::serve::ListenerExt;
use mizan_protocol::CloseCode;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;

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
        let deadline = tokio::time::Instant::now() + TASKS_GRACE;
        while node.connections.total() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::info!(left = node.connections.total(), "drained");
    }

    /// Whether the node is draining.
    pub fn is_draining(&self) -> bool {
        self.node.draining.load(Ordering::Acquire)
    }
}

/// Serves `router` (which should include `app.router()`) on `listener`,
/// with `TCP_NODELAY` on every socket, until SIGTERM or SIGINT, then drains
/// `app` and stops.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let app = mizan_server::Mizan::builder().build().unwrap();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// mizan_server::serve(listener, app.clone(), app.router()).await
/// # }
/// ```
pub async fn serve(listener: TcpListener, app: Mizan, router: axum::Router) -> std::io::Result<()> {
    // Pushes are small frames that must leave at once: no Nagle delay (it
    // costs milliseconds per push under load; docs/benchmarks.md).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            app.drain().await;
        })
        .await
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

/// Installs a `tracing` subscriber: filtered by `RUST_LOG` (default
/// `info`), as text or, with `json`, one JSON object per line.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let installed = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(e) = installed {
        eprintln!("tracing was already set up: {e}");
    }
}
