//! The Mizan server: an axum [`Router`](axum::Router) that speaks the Mizan
//! protocol over WebSocket and HTTP.
//!
//! # Layout
//!
//! - [`Mizan`] and [`MizanBuilder`] (`app.rs`): assemble functions, channels,
//!   auth, broker and config into a node, and hand out its router.
//! - `node.rs`: the state every connection and request shares, and the two
//!   operations both transports use: run a call, publish to a topic.
//! - [`ServerConfig`] (`config.rs`): every setting, with defaults.
//! - [`Authenticator`], [`Identity`], [`Jwt`] (`auth/`): who a request or
//!   socket acts as; JWT with the algorithm pinned.
//! - `limits/`: connection counts (node, user, address, anonymous), token
//!   buckets (per socket, per address, per user), node-wide budgets.
//! - `client_addr.rs`: a request's client address (the TCP peer, or what a
//!   trusted proxy forwarded).
//! - `connection/`: one WebSocket: the upgrade and lifecycle (`mod.rs`), the
//!   handling of each request (`dispatch.rs`), the socket's topics
//!   (`subscriptions.rs`), and the writer task (`writer.rs`).
//! - `outbox.rs`: a connection's bounded outbound queue and close signal.
//! - `eager.rs`: running a request's work where it was received when it
//!   does not wait, in a task of its own when it does.
//! - `serial.rs`: a queue that runs jobs one after another, for the ordered
//!   `send`s of one socket to one topic.
//! - `hub.rs`: this node's topics and their local subscribers.
//! - `watchers.rs`: this node's context watchers, indexed by param value,
//!   and the watch-before-compute hold-back of pushes.
//! - [`broker`]: fan-out between nodes: the [`Broker`](broker::Broker) trait
//!   and the in-memory implementation.
//! - `http/`: the router, `POST /call/{fn}`, `POST /fetch/{context}`,
//!   `/manifest`, `/healthz`, `/readyz`, `/metrics`.
//! - `refusal.rs`: HTTP error responses and a request's identity, shared by
//!   `http/` and the upgrade.
//! - `metrics.rs`: the Prometheus counters and their text rendering.
//! - [`Serve`] (`serve/`): the accept loop (`Mizan::serve`): caps on
//!   connections not yet upgraded, header timeouts, client addresses.
//! - [`Mizan::drain`] (`drain.rs`): draining sockets in batches at shutdown.
//! - [`shutdown_signal`] (`signals.rs`): SIGTERM and SIGINT.
//!
//! # Example
//!
//! ```no_run
//! use mizan_server::{Mizan, Jwt};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let app = Mizan::builder().jwt(Jwt::hs256(b"secret")).build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! app.serve(listener).with_shutdown(mizan_server::shutdown_signal()).await?;
//! # Ok(()) }
//! ```

mod app;
mod auth;
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod bench_support;
pub mod broker;
mod cache;
mod client_addr;
mod config;
mod connection;
mod drain;
mod eager;
mod http;
mod hub;
mod limits;
mod metrics;
mod node;
mod outbox;
mod presence;
mod refusal;
mod serial;
mod serve;
mod server_api;
mod signals;
mod streams;
mod view;
mod watchers;

pub use app::{BuildError, Mizan, MizanBuilder};
pub use auth::{AuthError, AuthFuture, Authenticator, DevToken, Identity, InvalidToken, JwksAlgorithm, Jwt};
pub use config::{
    ApiKey, BundleCacheBackend, CacheSecret, ConfigError, Endpoint, ManifestAccess, NamedOrigins, OriginPolicy,
    ServerConfig,
};
pub use mizan_channels as channels;
pub use mizan_channels::protocol;
pub use serve::Serve;
pub use server_api::{Published, ServerApi};
pub use signals::shutdown_signal;
pub use streams::Streams;
pub use view::{View, ViewDecl};
