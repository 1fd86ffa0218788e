//! Serving a node on a listener: the accept loop, with the protections
//! that must sit below the router.
//!
//! - Every accepted TCP connection is held (`pending.rs`) until it ends or
//!   becomes a WebSocket: at most `max_pending_connections` on the node
//!   (past it the listener waits before accepting more) and
//!   `max_pending_connections_per_address` per client address (past it a
//!   new connection is answered 429 and closed at once).
//! - A request's headers must arrive within `http_header_timeout`, counted
//!   from when the connection opened or went idle (hyper's header timer),
//!   so a slowloris trickle or an idle keep-alive connection is closed.
//! - Every request learns its TCP peer (`ConnectInfo<SocketAddr>`), for the
//!   limits kept per client address.
//! - `TCP_NODELAY` on every socket: pushes are small frames that must leave
//!   at once.
//!
//! Shutdown: when the future given to [`Serve::with_shutdown`] resolves,
//! the node drains (`drain.rs`), the listener stops accepting, idle HTTP
//! connections are closed, and the server returns when the last connection
//! has ended (or after a grace period).

mod pending;

use crate::app::Mizan;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use pending::Pending;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The answer to a connection over its address's cap.
const TOO_MANY: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

/// How long shutdown waits for connections to end after draining.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A node being served on a listener: made by [`Mizan::serve`], run by
/// `.await`.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let app = mizan_server::Mizan::builder().build().unwrap();
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// // With routes of your own beside the node's, draining on SIGTERM/SIGINT:
/// let router = app.router().route("/hello", axum::routing::get(|| async { "hi" }));
/// app.serve(listener).router(router).with_shutdown(mizan_server::shutdown_signal()).await
/// # }
/// ```
#[must_use = "a `Serve` does nothing until it is awaited"]
pub struct Serve {
    listener: TcpListener,
    app: Mizan,
    router: Option<Router>,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for Serve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("node", &self.app.node_id())
            .field("custom_router", &self.router.is_some())
            .finish_non_exhaustive()
    }
}

impl Mizan {
    /// Serves this node's [`router`](Mizan::router) on `listener` (see
    /// [`Serve`] for a router of your own and a shutdown signal).
    pub fn serve(&self, listener: TcpListener) -> Serve {
        Serve {
            listener,
            app: self.clone(),
            router: None,
            shutdown: Box::pin(std::future::pending()),
        }
    }
}

impl Serve {
    /// Serves `router` instead of the node's own: an app of yours that
    /// nests or merges [`Mizan::router`].
    pub fn router(mut self, router: Router) -> Self {
        self.router = Some(router);
        self
    }

    /// Drains and stops when `signal` resolves (e.g.
    /// [`shutdown_signal`](crate::shutdown_signal)); without one the server
    /// runs until the process ends.
    pub fn with_shutdown(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.shutdown = Box::pin(signal);
        self
    }

    async fn run(self) -> std::io::Result<()> {
        let Self {
            listener,
            app,
            router,
            mut shutdown,
        } = self;
        let router = router.unwrap_or_else(|| app.router());
        let node = Arc::clone(&app.node);
        let pending = Pending::new(node.config.max_pending_connections);
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(node.config.http_header_timeout);
        let http = Arc::new(http);
        loop {
            let slot = tokio::select! {
                slot = pending.slot() => slot,
                () = &mut shutdown => break,
            };
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of descriptors, mostly: wait for some to close.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let config = &node.config;
            let per_address =
                (!node.client_addresses.is_proxy(peer.ip())).then_some(config.max_pending_connections_per_address);
            let Some(held) = pending.hold(slot, peer.ip(), per_address) else {
                node.metrics.refused_tcp();
                // Best effort, never waiting: the client learns why.
                let _ = tcp.try_write(TOO_MANY);
                continue;
            };
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
            let service = router
                .clone()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request.map(axum::body::Body::new)
                });
            let connection = http
                .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service))
                .with_upgrades();
            let mut stopping = stopping.clone();
            tokio::spawn(async move {
                tokio::pin!(connection);
                let stop = async { stopping.wait_for(|stop| *stop).await.is_ok() };
                let done = tokio::select! {
                    done = connection.as_mut() => Some(done),
                    _ = stop => None,
                };
                let done = match done {
                    Some(done) => done,
                    None => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                log_end(done, peer);
                // A WebSocket's connection future ends at the upgrade: the
                // socket lives on, counted by `max_connections`.
                drop(held);
            });
        }
        drop(listener);
        app.drain().await;
        let _ = stop.send(true);
        let closed = async {
            pending.wait_empty().await;
            node.connections.wait_empty().await;
        };
        if tokio::time::timeout(CLOSE_GRACE, closed).await.is_err() {
            tracing::warn!("stopped with connections still open");
        }
        Ok(())
    }
}

impl IntoFuture for Serve {
    type Output = std::io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

fn log_end(result: Result<(), hyper::Error>, peer: SocketAddr) {
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "HTTP connection ended");
    }
}
